#include "tokenizer/decoder.h"

#include "tokenizer/utf8.h"  // defines: utf8_valid

namespace gt::tok {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void replace_in_place(std::string& s, const std::string& pattern, const std::string& content) {
  size_t at = s.find(pattern);
  if (at == std::string::npos) return;
  std::string out;
  size_t from = 0;
  for (; at != std::string::npos; at = s.find(pattern, from)) {
    out.append(s, from, at - from);
    out.append(content);
    from = at + pattern.size();
  }
  out.append(s, from, std::string::npos);
  s = std::move(out);
}

std::vector<std::string> byte_fallback(std::vector<std::string> tokens) {
  std::vector<std::string> out;
  out.reserve(tokens.size());
  std::string bytes;  // the pending run of byte tokens
  size_t run = 0;     // its length in tokens
  auto flush = [&] {
    if (run == 0) return;
    if (utf8_valid(bytes)) {
      out.push_back(bytes);
    } else {
      for (size_t i = 0; i < run; ++i) out.emplace_back("\xEF\xBF\xBD");  // U+FFFD
    }
    bytes.clear();
    run = 0;
  };
  for (std::string& t : tokens) {
    int b = byte_token_value(t);
    if (b >= 0) {
      bytes.push_back(char(b));
      ++run;
    } else {
      flush();
      out.push_back(std::move(t));
    }
  }
  flush();
  return out;
}

}  // namespace

int byte_token_value(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  int hi = hex_digit(token[3]), lo = hex_digit(token[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string run_decoder(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens) {
  for (const DecoderStep& step : steps) {
    switch (step.kind) {
      case DecoderStep::Kind::kReplace:
        for (std::string& t : tokens) replace_in_place(t, step.pattern, step.content);
        break;
      case DecoderStep::Kind::kByteFallback:
        tokens = byte_fallback(std::move(tokens));
        break;
      case DecoderStep::Kind::kFuse: {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
    }
  }
  std::string text;
  for (const std::string& t : tokens) text += t;
  return text;
}

}  // namespace gt::tok
