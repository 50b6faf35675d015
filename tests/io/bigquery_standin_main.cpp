// bigquery-standin: the BigQuery REST API stand-in of tests/io/bigquery_standin.h as a program, so Google's own
// clients (tools/npm/bigquery-client-check.mjs runs @google-cloud/bigquery) can be pointed at it. Built by
// tests/CMakeLists.txt as the target bigquery_standin; by hand:
//   g++ -std=c++20 -O1 $(pkg-config --cflags cpp-httplib) -Itests tests/io/bigquery_standin_main.cpp \
//       $(pkg-config --libs cpp-httplib) -lpthread -o build/bigquery-standin
//
//   bigquery-standin [--table project.dataset.table=<file.json>]... [--page-size N] [--pending-polls N]
//                    [--fail-next N] [--fail-status S] [--drop-next N] [--token T] [--log]
// A table file holds {"schema":{"fields":[...]}, "rows":[{"f":[...]}, ...], "queries":["SQL", ...]} (rows in the
// wire shape; each query is answered from the table; other keys are ignored), e.g.
// tests/fixtures/io/bigquery/typed_table.json. Prints "http://127.0.0.1:<port>" and a newline on standard output,
// then (with --log) "REQ <method> <target>" for each request, and serves until standard input closes.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

#include "io/bigquery_standin.h"

int main(int argc, char** argv) {
  std::mutex out_mu;  // before the server: its threads may log until it is gone
  gt::test::BigQueryStandin server;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "bigquery-standin: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--table") {
      const std::string v = value();
      const size_t eq = v.find('=');
      if (eq == std::string::npos || std::count(v.begin(), v.begin() + long(eq), '.') != 2) {
        std::cerr << "bigquery-standin: --table " << v << ": expected project.dataset.table=<file.json>\n";
        return 2;
      }
      std::ifstream in(v.substr(eq + 1), std::ios::binary);
      if (!in) {
        std::cerr << "bigquery-standin: cannot read " << v.substr(eq + 1) << "\n";
        return 2;
      }
      std::ostringstream text;
      text << in.rdbuf();
      nlohmann::json doc;
      try {
        doc = nlohmann::json::parse(text.str());
        const std::string name = v.substr(0, eq);
        server.add_table(name, doc.at("schema").at("fields"), doc.at("rows").get<std::vector<nlohmann::json>>());
        if (doc.contains("queries"))
          for (const auto& q : doc["queries"]) server.add_query(q.get<std::string>(), name);
      } catch (const nlohmann::json::exception& e) {
        std::cerr << "bigquery-standin: " << v.substr(eq + 1) << ": expected {\"schema\":{\"fields\":[...]},\"rows\":[...]} ("
                  << e.what() << ")\n";
        return 2;
      }
    } else if (a == "--page-size") {
      server.set_default_page_size(std::stoul(value()));
    } else if (a == "--pending-polls") {
      server.set_pending_polls(std::stoi(value()));
    } else if (a == "--fail-next") {
      const int n = std::stoi(value());
      server.set_faults([n](gt::test::BigQueryStandin::Faults& f) { f.fail_next = n; });
    } else if (a == "--fail-status") {
      const int s = std::stoi(value());
      server.set_faults([s](gt::test::BigQueryStandin::Faults& f) { f.fail_status = s; });
    } else if (a == "--drop-next") {
      const int n = std::stoi(value());
      server.set_faults([n](gt::test::BigQueryStandin::Faults& f) { f.drop_next = n; });
    } else if (a == "--token") {
      server.require_token(value());
    } else if (a == "--log") {
      server.on_request([&out_mu](const std::string& method, const std::string& target) {
        std::lock_guard<std::mutex> lock(out_mu);
        std::cout << "REQ " << method << " " << target << std::endl;
      });
    } else {
      std::cerr << "bigquery-standin: unknown argument " << a << "\n";
      return 2;
    }
  }
  {
    std::lock_guard<std::mutex> lock(out_mu);
    std::cout << server.base() << std::endl;
  }
  // Serve until the parent closes our standard input (or kills us).
  char buf[256];
  while (std::fread(buf, 1, sizeof buf, stdin) > 0) {
  }
  return 0;
}
