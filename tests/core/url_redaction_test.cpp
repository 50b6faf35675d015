// Credentials in URLs never reach skipped.jsonl or messages (issue #13): core/strings redact_url_secrets and its
// use by data::append_skipped_rows.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/strings.h"
#include "data/example.h"
#include "test_util.h"

namespace {

TEST(UrlRedaction, HidesUserInfoAndSecretParameters) {
  using gt::redact_url_secrets;
  EXPECT_EQ(redact_url_secrets("https://alice:hunter2@host.example/a.wav: not found"),
            "https://REDACTED@host.example/a.wav: not found");
  EXPECT_EQ(redact_url_secrets("fetch \"http://tok3n@h/x?y=1\" failed"), "fetch \"http://REDACTED@h/x?y=1\" failed");
  EXPECT_EQ(redact_url_secrets("https://h/a.png?token=s3cret&size=2#f"), "https://h/a.png?token=REDACTED&size=2#f");
  EXPECT_EQ(redact_url_secrets("https://h/a?x=1&access_token=abc.def"), "https://h/a?x=1&access_token=REDACTED");
  EXPECT_EQ(redact_url_secrets("https://storage.googleapis.com/b/o.wav?X-Goog-Algorithm=GOOG4-RSA-SHA256&"
                               "X-Goog-Credential=sa%40p.iam&X-Goog-Signature=abcdef0123 and more"),
            "https://storage.googleapis.com/b/o.wav?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=REDACTED&"
            "X-Goog-Signature=REDACTED and more");
  EXPECT_EQ(redact_url_secrets("https://b.s3.amazonaws.com/k?X-Amz-Security-Token=t&X-Amz-Signature=s&sig=q"),
            "https://b.s3.amazonaws.com/k?X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED&sig=REDACTED");
  // Nothing secret: unchanged, an e-mail address in a path included.
  EXPECT_EQ(redact_url_secrets("https://h/u@x/a.wav?page=2 and a@b.c"), "https://h/u@x/a.wav?page=2 and a@b.c");
  EXPECT_EQ(redact_url_secrets("clips/a.wav: no such file"), "clips/a.wav: no such file");
}

TEST(UrlRedaction, SkippedRowsLogHasNoSecret) {
  gt::test::TempDir dir("url-redaction");
  const std::string log = (dir / "skipped.jsonl").string();
  const gt::data::SkippedRow rows[] = {
      {"gs://bucket/train.csv", 3, "bad_audio",
       "https://user:PASSWORD123@media.example/c.wav?token=TOKEN456: HTTP 404"},
      {"https://ds.example/t.jsonl?X-Goog-Signature=SIGNATURE789", 4, "bad_image",
       "https://media.example/i.png?access_token=ACCESS000: not an image"}};
  gt::data::append_skipped_rows(log, rows);
  const std::string text = gt::test::read_file(log);
  for (const char* secret : {"PASSWORD123", "user:", "TOKEN456", "SIGNATURE789", "ACCESS000"})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << text;
  EXPECT_NE(text.find("https://REDACTED@media.example/c.wav?token=REDACTED: HTTP 404"), std::string::npos) << text;
  EXPECT_NE(text.find("\"row\":4"), std::string::npos) << text;
}

}  // namespace
