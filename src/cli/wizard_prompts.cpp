#include "cli/wizard_prompts.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "core/strings.h"

namespace gt::cli {

std::string Prompter::ask(const std::string& question, const std::string& def,
                          const std::function<void(const std::string&)>& check) {
  return ask_shown(question + (def.empty() ? "" : " [" + def + "]"), question, def, check);
}

std::string Prompter::ask_shown(const std::string& shown, const std::string& question, const std::string& def,
                                const std::function<void(const std::string&)>& check) {
  std::string last_reason;
  for (int attempt = 0; attempt < kMaxTries; ++attempt) {
    out_ << shown << ": " << std::flush;
    std::string line;
    if (!std::getline(in_, line))
      fail_input("wizard: the input ended before an answer to \"", question,
                 "\"; nothing was written (answer every question, or press Enter to take the default in brackets)");
    if (echo_) out_ << line << "\n";
    std::string answer = trim(line);
    if (answer.empty()) answer = def;
    try {
      if (answer.empty()) fail_input("an answer is needed");
      if (check) check(answer);
      return answer;
    } catch (const InputError& e) {
      last_reason = e.what();
      out_ << "  not accepted: " << last_reason << "\n";
    }
  }
  fail_input("wizard: no acceptable answer to \"", question, "\" after ", kMaxTries, " tries; the last one: ",
             last_reason);
}

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}
}  // namespace

bool Prompter::ask_yes_no(const std::string& question, bool def) {
  const std::string answer =
      ask_shown(question + (def ? " [Y/n]" : " [y/N]"), question, def ? "y" : "n", [](const std::string& a) {
        const std::string l = lower(a);
        if (l != "y" && l != "yes" && l != "n" && l != "no") fail_input("\"", a, "\" is not y, yes, n or no");
      });
  return lower(answer)[0] == 'y';
}

}  // namespace gt::cli
