// `gemma-tune train` and `eval` with Google credentials end to end (issue #10, "a token that expires mid-run"): a
// service-account key file written by the test (its RSA key made here, its token_uri the token stand-in of
// tests/io/token_standin.h, which verifies the signed JWT before it issues a token), found through
// GOOGLE_APPLICATION_CREDENTIALS. The Cloud Storage and BigQuery stand-ins are named with --gcs-endpoint /
// --bq-endpoint (endpoints that get credentials, unlike STORAGE_EMULATOR_HOST / BIGQUERY_EMULATOR_HOST) and take
// only tokens the token stand-in issued and has not revoked or seen expire. Checked against the same data read
// anonymously through the emulator variables (which get no credentials even when a key file is set):
//   - the first token revoked by the server mid-run (after the listing and some reads): the 401 makes the program
//     fetch a new token and send the request again; the losses are the anonymous run's;
//   - the same in the middle of a shard read that a dropped connection made a ranged resumption: the read goes on
//     with a new token from the byte it had reached;
//   - tokens of 60 s, under the 5-minute refresh margin: the program fetches a fresh token before each request and
//     is never refused; the losses again;
//   - every request carried a token; no token, JWT signature or private-key line reaches stdout, stderr or any file
//     of the run folder (config.yaml, metadata.json, metrics.jsonl, checkpoints);
//   - a token endpoint that refuses the key (invalid_grant) fails the run with a message naming the endpoint and
//     the key file, and no request goes to the data without a token.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <set>

#include "io/bigquery_standin.h"
#include "io/gcs_standin.h"
#include "io/token_standin.h"
#include "tiny_setup.h"

using gt::test::BigQueryStandin;
using gt::test::GcsStandin;
using gt::test::quote;
using gt::test::run_cli;
using gt::test::run_named;
using gt::test::step_losses;
using gt::test::ScopedEnv;
using gt::test::TinySetup;
using gt::test::TokenStandin;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

void expect_same_losses(const std::vector<double>& got, const std::vector<double>& expected, const std::string& what) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6) << what << ", step " << i + 1;
}

// The bearer token of a recorded request ("" when it carried none).
std::string bearer(const httplib::Headers& headers) {
  const auto it = headers.find("Authorization");
  if (it == headers.end() || it->second.rfind("Bearer ", 0) != 0) return "";
  return it->second.substr(7);
}

// A tiny model and dataset, the token stand-in and a service-account key file for it; the emulator variables unset.
struct TokenSetup {
  TinySetup tiny;
  TokenStandin tokens{gt::test::shared_rsa_key().public_key.get()};
  fs::path key_file = tiny.tmp / "secrets" / "service-account.json";
  ScopedEnv no_gcs{"STORAGE_EMULATOR_HOST", std::nullopt};
  ScopedEnv no_gcs2{"CLOUD_STORAGE_EMULATOR_ENDPOINT", std::nullopt};
  ScopedEnv no_bq{"BIGQUERY_EMULATOR_HOST", std::nullopt};
  ScopedEnv credentials{"GOOGLE_APPLICATION_CREDENTIALS", key_file.string()};
  TokenSetup() {
    gt::test::write_file(key_file, tokens.service_account_json(gt::test::shared_rsa_key().private_pem).dump(2));
  }

  // What must never be printed or stored: every token issued (all start "ya29."), the signatures of the JWTs sent,
  // the private key's lines.
  std::vector<std::string> secrets() const {
    std::vector<std::string> s = {"ya29.", "PRIVATE KEY"};
    for (const auto& r : tokens.requests())
      if (r.form.count("assertion")) s.push_back(r.form.at("assertion").substr(r.form.at("assertion").rfind('.') + 1));
    for (const std::string& line : gt::test::pem_body_lines(gt::test::shared_rsa_key().private_pem)) s.push_back(line);
    return s;
  }
  void expect_no_secret(const std::string& where, const std::string& text) const {
    for (const std::string& secret : secrets())
      EXPECT_EQ(text.find(secret), std::string::npos) << where << " holds a secret: " << secret.substr(0, 12) << "...";
  }
  // stdout, stderr and every file of the run folder (checkpoints included).
  void expect_no_secret(const gt::test::CommandResult& r, const fs::path& run) const {
    expect_no_secret("stdout", r.out);
    expect_no_secret("stderr", r.err);
    ASSERT_FALSE(run.empty());
    int files = 0;
    for (const auto& e : fs::recursive_directory_iterator(run))
      if (e.is_regular_file()) {
        expect_no_secret(e.path().string(), gt::test::read_file(e.path()));
        ++files;
      }
    EXPECT_GE(files, 4) << "config.yaml, metadata.json, metrics.jsonl and a checkpoint at least";
  }
};

// Revokes every token issued so far when the `at`-th request arrives (the server's early expiry: a single event, so a
// request sent again after the 401 always carries a token that stays good; at 0: never); counts the refusals.
struct RevokeAt {
  TokenStandin& tokens;
  int at;
  std::atomic<int> seen{0}, refused{0};
  bool operator()(const std::string& token) {
    if (++seen == at) tokens.revoke_all();
    const bool ok = tokens.valid(token);
    if (!ok) ++refused;
    return ok;
  }
};

// The tokens carried by requests[first..] that `selected` picks (every request must carry one of the stand-in's).
template <class Recorded, class Select>
std::multiset<std::string> tokens_of(const std::vector<Recorded>& requests, size_t first, Select selected) {
  std::multiset<std::string> out;
  for (size_t i = first; i < requests.size(); ++i) {
    const std::string t = bearer(requests[i].headers);
    EXPECT_NE(t.rfind("ya29.tok-", 0), std::string::npos) << "a request without a token: " << requests[i].target;
    if (selected(requests[i])) out.insert(t);
  }
  return out;
}

// Twelve rows in three shards of gs://bkt/set/, and the validation file at gs://bkt/val/validation.jsonl.
void put_shards(GcsStandin& gcs, const TinySetup& tiny) {
  std::string rows[3];
  for (int k = 0; k < 12; ++k) rows[k / 4] += std::string(gt::test::kRows[k % 8]) + "\n";
  for (int i = 0; i < 3; ++i) gcs.put("bkt", "set/train-" + std::to_string(i) + ".jsonl", rows[i]);
  gcs.put("bkt", "val/validation.jsonl", gt::test::read_file(tiny.data / "validation.jsonl"));
}

std::string gcs_train_args(const TinySetup& tiny, const std::string& name, const std::string& extra) {
  return "train --model " + quote(tiny.model) + " --data 'gs://bkt/set/train-*' --out " + quote(tiny.runs) +
         " --batch-size 2 --max-seq-len 64 --lr 1e-2 --seed 5 --shuffle-buffer 4 --max-steps 8 --save-every 4 --name " +
         name + " " + extra;
}

}  // namespace

TEST(StreamTokenCli, CloudStorageThroughARevokedTokenAndShortLivedTokensGivesTheAnonymousLosses) {
  TokenSetup s;
  GcsStandin gcs;
  put_shards(gcs, s.tiny);
  const auto args = [&](const std::string& name, const std::string& extra) {
    return gcs_train_args(s.tiny, name, "--stream-workers 2 " + extra);
  };
  const std::string eval = "eval --model " + quote(s.tiny.model) + " --data gs://bkt/val/validation.jsonl --json";

  // Anonymous through the emulator variable: no token is asked for or sent, though a key file is set.
  std::vector<double> expected;
  json expected_eval;
  {
    ScopedEnv emulator("STORAGE_EMULATOR_HOST", gcs.base());
    const auto r = run_cli(args("anonymous", ""));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expected = step_losses(run_named(s.tiny.runs, "anonymous"));
    ASSERT_EQ(expected.size(), 8u);
    const auto e = run_cli(eval);
    ASSERT_EQ(e.exit_code, 0) << e.err;
    expected_eval = json::parse(e.out);
  }
  EXPECT_EQ(s.tokens.count(), 0u);
  for (const auto& r : gcs.requests()) EXPECT_EQ(bearer(r.headers), "") << r.target;
  size_t first = gcs.request_count();

  // --gcs-endpoint gets credentials; the first token dies at the third request: after the listing and a shard read.
  RevokeAt revoke{s.tokens, 3};
  gcs.require_token_if([&](const std::string& t) { return revoke(t); });
  const auto revoked = run_cli(args("revoked", "--gcs-endpoint " + gcs.base()));
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_NE(revoked.err.find(std::string("credentials service account ") + TokenStandin::kEmail), std::string::npos)
      << revoked.err;
  expect_same_losses(step_losses(run_named(s.tiny.runs, "revoked")), expected, "revoked mid-run");
  EXPECT_GE(revoke.refused.load(), 1) << "the revoked token was refused mid-run";
  EXPECT_EQ(s.tokens.issued(), (std::vector<std::string>{"ya29.tok-1", "ya29.tok-2"}))
      << "one token, then one more after the 401";
  const auto during = gcs.requests();
  ASSERT_GT(during.size(), first + 4);
  const auto media =
      tokens_of(during, first, [](const auto& r) { return r.target.find("alt=media") != std::string::npos; });
  EXPECT_EQ(std::set<std::string>(media.begin(), media.end()), (std::set<std::string>{"ya29.tok-1", "ya29.tok-2"}))
      << "shards were read with the first token, then with the second";
  s.expect_no_secret(revoked, run_named(s.tiny.runs, "revoked"));

  // 60-second tokens are under the 5-minute margin: a fresh one before every request, none refused. The endpoint is
  // given as the JSON API's root this time (the /storage/v1 is dropped).
  first = gcs.request_count();
  const size_t issued_before = s.tokens.issued().size();
  s.tokens.set([](TokenStandin::Settings& st) { st.expires_in = 60; });
  RevokeAt valid{s.tokens, 0};  // revokes nothing: counts the refusals
  gcs.require_token_if([&](const std::string& t) { return valid(t); });
  const auto short_lived = run_cli(args("short", "--gcs-endpoint " + gcs.base() + "/storage/v1"));
  ASSERT_EQ(short_lived.exit_code, 0) << short_lived.err;
  expect_same_losses(step_losses(run_named(s.tiny.runs, "short")), expected, "60-second tokens");
  EXPECT_EQ(valid.refused.load(), 0) << "the program refreshed before expiry, so no request was refused";
  const auto after = gcs.requests();
  const auto used = tokens_of(after, first, [](const auto&) { return true; });
  const size_t requests = after.size() - first, issued = s.tokens.issued().size() - issued_before;
  EXPECT_GE(issued, requests) << "a token endpoint call before each request";
  EXPECT_EQ(std::set<std::string>(used.begin(), used.end()).size(), requests) << "no token was used twice";
  s.expect_no_secret(short_lived, run_named(s.tiny.runs, "short"));

  // eval with credentials: the anonymous loss.
  const auto e = run_cli(eval + " --gcs-endpoint " + gcs.base());
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const json got_eval = json::parse(e.out);
  EXPECT_EQ(got_eval["tokens"], expected_eval["tokens"]);
  EXPECT_NEAR(got_eval["loss"].get<double>(), expected_eval["loss"].get<double>(), 1e-9);
  s.expect_no_secret("eval's stdout", e.out);
  s.expect_no_secret("eval's stderr", e.err);
}

// The first shard read is cut after 100 bytes and resumed with a ranged GET; the token dies at the third request, that
// resumption (one stream worker, so the order is fixed): the 401 comes in the middle of a shard, and the read
// goes on with a new token from the byte it had reached, neither losing nor repeating rows.
TEST(StreamTokenCli, ATokenRevokedInTheMiddleOfAShardReadGoesOnFromTheByteReached) {
  TokenSetup s;
  GcsStandin gcs;
  put_shards(gcs, s.tiny);
  std::vector<double> expected;
  {
    ScopedEnv emulator("STORAGE_EMULATOR_HOST", gcs.base());
    const auto r = run_cli(gcs_train_args(s.tiny, "anonymous", "--stream-workers 1"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expected = step_losses(run_named(s.tiny.runs, "anonymous"));
    ASSERT_EQ(expected.size(), 8u);
  }
  const size_t first = gcs.request_count();
  gcs.set_faults([](GcsStandin::Faults& f) {
    f.drop_after = 100;
    f.drop_replies = 2;  // the first read, and its resumption (which the 401 answers): no more backoff than that
  });
  RevokeAt revoke{s.tokens, 3};
  gcs.require_token_if([&](const std::string& t) { return revoke(t); });
  const auto r = run_cli(gcs_train_args(s.tiny, "cut", "--stream-workers 1 --gcs-endpoint " + gcs.base()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_losses(step_losses(run_named(s.tiny.runs, "cut")), expected, "revoked during a resumed read");
  EXPECT_EQ(revoke.refused.load(), 1);
  ASSERT_EQ(s.tokens.issued(), (std::vector<std::string>{"ya29.tok-1", "ya29.tok-2"}));
  const auto log = gcs.requests();
  ASSERT_GT(log.size(), first + 3);
  const auto& refused = log[first + 2];
  const auto& again = log[first + 3];
  EXPECT_EQ(bearer(refused.headers), "ya29.tok-1");
  EXPECT_EQ(refused.range, "bytes=100-") << "the token died in the middle of a shard: " << refused.target;
  EXPECT_EQ(bearer(again.headers), "ya29.tok-2");
  EXPECT_EQ(again.path, refused.path);
  EXPECT_EQ(again.range, "bytes=100-") << "the read went on from the byte it had reached";
  for (size_t i = first; i < log.size(); ++i)
    EXPECT_NE(bearer(log[i].headers).rfind("ya29.tok-", 0), std::string::npos) << "no token: " << log[i].target;
  s.expect_no_secret(r, run_named(s.tiny.runs, "cut"));
}

TEST(StreamTokenCli, BigQueryThroughARevokedTokenAndShortLivedTokensGivesTheAnonymousLosses) {
  TokenSetup s;
  BigQueryStandin bq;
  bq.set_default_page_size(3);  // several pages, so the token dies between them
  const json fields = json::array({{{"name", "id"}, {"type", "INTEGER"}, {"mode", "NULLABLE"}},
                                   {{"name", "prompt"}, {"type", "STRING"}, {"mode", "NULLABLE"}},
                                   {{"name", "response"}, {"type", "STRING"}, {"mode", "NULLABLE"}}});
  std::vector<json> rows;
  for (int k = 0; k < 10; ++k) {
    const json r = json::parse(gt::test::kRows[k % 8]);
    if (!r.contains("prompt")) continue;  // the conversation row has no prompt column
    rows.push_back(BigQueryStandin::row({std::to_string(k), r["prompt"], r["response"]}));
  }
  bq.add_table("proj.ds.train", fields, rows);
  const auto args = [&](const std::string& name, const std::string& extra) {
    return "train --model " + quote(s.tiny.model) + " --data bq://proj.ds.train --out " + quote(s.tiny.runs) +
           " --batch-size 2 --max-seq-len 64 --lr 1e-2 --seed 5 --shuffle-buffer 3 --max-steps 6 --save-every 3 --name " +
           name + " " + extra;
  };

  std::vector<double> expected;
  {
    ScopedEnv emulator("BIGQUERY_EMULATOR_HOST", bq.base());
    const auto r = run_cli(args("anonymous", ""));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expected = step_losses(run_named(s.tiny.runs, "anonymous"));
    ASSERT_EQ(expected.size(), 6u);
  }
  EXPECT_EQ(s.tokens.count(), 0u);
  for (const auto& r : bq.requests()) EXPECT_EQ(bearer(r.headers), "") << r.target;
  size_t first = bq.request_count();

  // The first token dies at the third request: after the table's metadata and the first page of rows.
  RevokeAt revoke{s.tokens, 3};
  bq.require_token_if([&](const std::string& t) { return revoke(t); });
  const auto revoked = run_cli(args("revoked", "--bq-endpoint " + bq.base() + "/bigquery/v2"));
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  expect_same_losses(step_losses(run_named(s.tiny.runs, "revoked")), expected, "revoked mid-run");
  EXPECT_GE(revoke.refused.load(), 1) << "the revoked token was refused mid-run";
  EXPECT_EQ(s.tokens.issued(), (std::vector<std::string>{"ya29.tok-1", "ya29.tok-2"}));
  const auto during = bq.requests();
  ASSERT_GT(during.size(), first + 3);
  const auto pages = tokens_of(during, first, [](const auto& r) { return r.path.find("/data") != std::string::npos; });
  EXPECT_EQ(std::set<std::string>(pages.begin(), pages.end()), (std::set<std::string>{"ya29.tok-1", "ya29.tok-2"}))
      << "pages were read with the first token, then with the second";
  s.expect_no_secret(revoked, run_named(s.tiny.runs, "revoked"));

  first = bq.request_count();
  const size_t issued_before = s.tokens.issued().size();
  s.tokens.set([](TokenStandin::Settings& st) { st.expires_in = 60; });
  RevokeAt valid{s.tokens, 0};  // revokes nothing: counts the refusals
  bq.require_token_if([&](const std::string& t) { return valid(t); });
  const auto short_lived = run_cli(args("short", "--bq-endpoint " + bq.base()));
  ASSERT_EQ(short_lived.exit_code, 0) << short_lived.err;
  expect_same_losses(step_losses(run_named(s.tiny.runs, "short")), expected, "60-second tokens");
  EXPECT_EQ(valid.refused.load(), 0);
  const auto after = bq.requests();
  const auto used = tokens_of(after, first, [](const auto&) { return true; });
  const size_t requests = after.size() - first, issued = s.tokens.issued().size() - issued_before;
  EXPECT_GE(issued, requests) << "a token endpoint call before each request";
  EXPECT_EQ(std::set<std::string>(used.begin(), used.end()).size(), requests) << "no token was used twice";
  s.expect_no_secret(short_lived, run_named(s.tiny.runs, "short"));
}

TEST(StreamTokenCli, ATokenEndpointThatRefusesTheKeyFailsTheRunNamingItWithoutSecrets) {
  TokenSetup s;
  // The key file holds a key the token stand-in does not know: it answers 400 invalid_grant, as Google's does.
  const gt::test::RsaTestKey other = gt::test::make_rsa_key();
  gt::test::write_file(s.key_file, s.tokens.service_account_json(other.private_pem).dump(2));
  GcsStandin gcs;
  gcs.put("bkt", "set/train-0.jsonl", gt::test::read_file(s.tiny.data / "train.jsonl"));
  gcs.require_token_if([&](const std::string& t) { return s.tokens.valid(t); });
  BigQueryStandin bq;
  bq.add_table("proj.ds.train", json::array({{{"name", "prompt"}, {"type", "STRING"}}}),
               {BigQueryStandin::row({"Say hi."})});
  bq.require_token_if([&](const std::string& t) { return s.tokens.valid(t); });
  const std::string common = " --model " + quote(s.tiny.model) + " --out " + quote(s.tiny.runs) +
                             " --batch-size 2 --max-seq-len 64 --max-steps 2 --name refused";
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"Cloud Storage", "train --data 'gs://bkt/set/train-*' --gcs-endpoint " + gcs.base() + common},
      {"BigQuery", "train --data bq://proj.ds.train --bq-endpoint " + bq.base() + common}};
  for (const auto& [what, cmd] : runs) {
    const auto r = run_cli(cmd);
    EXPECT_NE(r.exit_code, 0) << what;
    EXPECT_NE(r.err.find(s.tokens.token_uri()), std::string::npos) << what << ": " << r.err;
    EXPECT_NE(r.err.find(s.key_file.string()), std::string::npos) << what << ": " << r.err;
    EXPECT_NE(r.err.find("invalid_grant: Invalid JWT Signature."), std::string::npos) << what << ": " << r.err;
    for (const std::string& line : gt::test::pem_body_lines(other.private_pem)) {
      EXPECT_EQ(r.err.find(line), std::string::npos) << what << ": the key is printed";
      EXPECT_EQ(r.out.find(line), std::string::npos) << what << ": the key is printed";
    }
    EXPECT_EQ(r.err.find("PRIVATE KEY"), std::string::npos) << what << ": " << r.err;
  }
  EXPECT_EQ(s.tokens.count(), 2u) << "one refused token request per run (400 is final)";
  EXPECT_TRUE(s.tokens.issued().empty());
  EXPECT_EQ(gcs.request_count(), 0u) << "nothing was sent to the data without a token";
  EXPECT_EQ(bq.request_count(), 0u) << "nothing was sent to the data without a token";
}
