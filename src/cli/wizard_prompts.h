// Questions one line at a time, for `wizard`: the question on one stream, the answer as one line of another, the
// default in brackets and taken on an empty line, a refused answer asked again with the reason. No terminal library:
// a script can drive it through a pipe. Torch-free.
#pragma once

#include <functional>
#include <istream>
#include <ostream>
#include <string>

namespace gt::cli {

class Prompter {
 public:
  // Answers that a check refuses are asked again at most this many times in all.
  static constexpr int kMaxTries = 5;

  // echo: write each answer after its question (when the input is not a terminal, so a transcript reads whole).
  Prompter(std::istream& in, std::ostream& out, bool echo) : in_(in), out_(out), echo_(echo) {}

  // Asks `question` ("model folder"), shown as "question [default]: ". The answer is the line read, trimmed, or
  // `def` when the line is empty and `def` is not. `check` throws gt::InputError to refuse an answer: its message is
  // shown and the question asked again. An empty answer without a default is refused. Throws gt::InputError when the
  // input ends (nothing has been written) or after kMaxTries refused answers.
  std::string ask(const std::string& question, const std::string& def,
                  const std::function<void(const std::string&)>& check = {});
  // A yes/no question: y, yes, n, no in any case; an empty line takes `def`.
  bool ask_yes_no(const std::string& question, bool def);

  std::ostream& out() { return out_; }

 private:
  // ask() with `shown` written as the question.
  std::string ask_shown(const std::string& shown, const std::string& question, const std::string& def,
                        const std::function<void(const std::string&)>& check);

  std::istream& in_;
  std::ostream& out_;
  bool echo_;
};

}  // namespace gt::cli
