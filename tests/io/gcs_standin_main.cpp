// gcs-standin: the Cloud Storage JSON API stand-in of tests/io/gcs_standin.h as a program, so Google's own clients
// (tools/npm/gcs-client-check.mjs runs @google-cloud/storage) can be pointed at it. Not part of the CMake build
// (its name does not end in _test.cpp); build it by hand:
//   g++ -std=c++20 -O1 $(pkg-config --cflags cpp-httplib) -Itests tests/io/gcs_standin_main.cpp \
//       $(pkg-config --libs cpp-httplib) -lcrypto -lpthread -o build/gcs-standin
//
//   gcs-standin [--object gs://bucket/name=<file>]... [--page-size N] [--fail-next N] [--drop-after BYTES]
//               [--bad-hash] [--token T]
// prints "http://127.0.0.1:<port>" and a newline on standard output, then serves until standard input closes.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "io/gcs_standin.h"

int main(int argc, char** argv) {
  gt::test::GcsStandin server;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "gcs-standin: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--object") {
      const std::string v = value();
      const size_t eq = v.find('=');
      const size_t slash = v.find('/', 5);
      if (v.rfind("gs://", 0) != 0 || eq == std::string::npos || slash == std::string::npos || slash > eq) {
        std::cerr << "gcs-standin: --object " << v << ": expected gs://bucket/name=<file>\n";
        return 2;
      }
      std::ifstream in(v.substr(eq + 1), std::ios::binary);
      if (!in) {
        std::cerr << "gcs-standin: cannot read " << v.substr(eq + 1) << "\n";
        return 2;
      }
      std::ostringstream bytes;
      bytes << in.rdbuf();
      server.put(v.substr(5, slash - 5), v.substr(slash + 1, eq - slash - 1), bytes.str());
    } else if (a == "--page-size") {
      server.set_default_page_size(std::stoul(value()));
    } else if (a == "--fail-next") {
      const int n = std::stoi(value());
      server.set_faults([n](gt::test::GcsStandin::Faults& f) { f.fail_next = n; });
    } else if (a == "--drop-after") {
      const size_t n = std::stoul(value());
      server.set_faults([n](gt::test::GcsStandin::Faults& f) { f.drop_after = n; });
    } else if (a == "--bad-hash") {
      server.set_faults([](gt::test::GcsStandin::Faults& f) { f.bad_hash = true; });
    } else if (a == "--token") {
      server.require_token(value());
    } else {
      std::cerr << "gcs-standin: unknown argument " << a << "\n";
      return 2;
    }
  }
  std::cout << server.base() << std::endl;
  // Serve until the parent closes our standard input (or kills us).
  char buf[256];
  while (std::fread(buf, 1, sizeof buf, stdin) > 0) {
  }
  return 0;
}
