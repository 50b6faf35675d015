// Integrity manifests: a folder checks clean against its own manifest, and every kind of difference is reported;
// a damaged manifest is an input error naming the entry, not a crash.
#include <gtest/gtest.h>

#include "io/integrity.h"
#include "test_util.h"

using gt::test::TempDir;
using gt::test::write_file;

TEST(Integrity, ReportsMissingChangedExtraAndRefusesBadEntries) {
  TempDir d("integrity");
  write_file(d / "a.txt", "alpha");
  write_file(d / "sub/b.txt", "beta");
  gt::io::write_integrity_manifest(d.path().string());
  EXPECT_TRUE(gt::io::verify_integrity_manifest(d.path().string()).empty());
  write_file(d / "a.txt", "alphA");
  std::filesystem::remove(d / "sub/b.txt");
  write_file(d / "c.txt", "new");
  const auto problems = gt::io::verify_integrity_manifest(d.path().string());
  EXPECT_EQ(problems, (std::vector<std::string>{"changed: a.txt", "missing: sub/b.txt", "extra: c.txt"}));
  write_file(d / ".integrity.json", R"({"files": {"a.txt": {"sha256": "x", "size": "5"}}})");
  const std::string err = gt::test::error_of([&] { gt::io::verify_integrity_manifest(d.path().string()); });
  EXPECT_NE(err.find("the entry of a.txt"), std::string::npos) << err;
  write_file(d / ".integrity.json", "[1, 2]");
  EXPECT_NE(gt::test::error_of([&] { gt::io::verify_integrity_manifest(d.path().string()); }).find("not a valid manifest"),
            std::string::npos);
}
