// io::JsonSection: the one reader of config.json sections and processor files. Same rules for every key: absent or
// null = the default, 2.0 is an integer, a wrong type names file, section and key.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <limits>

#include "core/error.h"
#include "io/json_section.h"
#include "test_util.h"

using gt::io::JsonSection;
using gt::test::error_of;
using nlohmann::json;

TEST(JsonSection, AbsentAndNullTakeTheDefault) {
  const json j = json::parse(R"({"a": null, "b": 3})");
  const JsonSection s(j, "config.json", "audio_config.");
  EXPECT_EQ(s.integer("a", 7), 7);
  EXPECT_EQ(s.integer("missing", 8), 8);
  EXPECT_EQ(s.integer("b", 7), 3);
  EXPECT_FALSE(s.has("a"));
  EXPECT_TRUE(s.has("b"));
  int64_t v = 5;
  s.read("a", v);
  EXPECT_EQ(v, 5);
  s.read("b", v);
  EXPECT_EQ(v, 3);
  EXPECT_EQ(s.optional_integer("a"), std::nullopt);
  EXPECT_EQ(error_of([&] { s.integer("a"); }), "config.json: audio_config.a is missing");
}

TEST(JsonSection, IntegersMayBeWrittenAsWholeFloats) {
  const json j = json::parse(R"({"n": 2.0, "x": 2.5, "l": [1, 2.0, 3], "bad": [1, 2.5], "p": [[3, 3.0], [2, 2]]})");
  const JsonSection s(j, "f.json");
  EXPECT_EQ(s.integer("n"), 2);
  EXPECT_EQ(error_of([&] { s.integer("x"); }), "f.json: x is 2.5, expected an integer");
  EXPECT_EQ(s.integers("l", {}), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(error_of([&] { s.integers("bad", {}); }), "f.json: bad holds 2.5, expected integers");
  std::array<std::array<int64_t, 2>, 2> pairs{};
  s.read("p", pairs);
  EXPECT_EQ(pairs[0][1], 3);
  EXPECT_EQ(pairs[1][0], 2);
  std::array<int64_t, 2> pair{};
  EXPECT_NE(error_of([&] { s.read("l", pair); }).find("f.json: l is [1,2.0,3], expected a list of 2 integers"),
            std::string::npos);
}

// Found by fuzzing (fuzz/model_config_fuzz.cpp): a whole float past int64's range (1e51) was converted to int64_t
// (undefined behaviour), and an unsigned integer past INT64_MAX came back negative. Both are refused now.
TEST(JsonSection, IntegersOutsideInt64AreRefused) {
  const json j = json::parse(R"({"big": 2.24e51, "u": 18446744073709551615, "edge": 9223372036854775807,
                                 "low": -9223372036854775808, "f": -9.2e18})");
  const JsonSection s(j, "f.json");
  EXPECT_EQ(error_of([&] { s.integer("big"); }), "f.json: big is 2.24e+51, expected an integer");
  EXPECT_EQ(error_of([&] { s.integer("u"); }), "f.json: u is 18446744073709551615, expected an integer");
  EXPECT_EQ(s.integer("edge"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(s.integer("low"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(s.integer("f"), int64_t(-9200000000000000000));
}

TEST(JsonSection, WrongTypesNameFileSectionAndKey) {
  const json j = json::parse(R"({"eps": "1e-6", "on": 1, "name": 3, "v": {"k": true}, "nums": [1, "x"]})");
  const JsonSection s(j, "config.json", "vision_config.");
  double d = 0;
  EXPECT_EQ(error_of([&] { s.read("eps", d); }), "config.json: vision_config.eps is \"1e-6\", expected a number");
  bool b = false;
  EXPECT_EQ(error_of([&] { s.read("on", b); }), "config.json: vision_config.on is 1, expected true or false");
  std::string str;
  EXPECT_EQ(error_of([&] { s.read("name", str); }), "config.json: vision_config.name is 3, expected a string");
  std::vector<double> nums;
  EXPECT_EQ(error_of([&] { s.read("nums", nums); }), "config.json: vision_config.nums holds \"x\", expected numbers only");
  const JsonSection nested = s.section("v");
  EXPECT_EQ(error_of([&] { nested.integer("k"); }), "config.json: vision_config.v.k is true, expected an integer");
  EXPECT_FALSE(s.section("absent").has("k"));
  EXPECT_EQ(error_of([&] { s.section("eps"); }), "config.json: vision_config.eps is \"1e-6\", expected an object");
}

TEST(JsonSection, ParseObjectRefusesOtherJson) {
  EXPECT_EQ(JsonSection::parse_object(R"({"a": 1})", "x").at("a"), 1);
  EXPECT_EQ(error_of([] { JsonSection::parse_object("[1]", "p.json"); }), "p.json is [1], expected an object");
  EXPECT_NE(error_of([] { JsonSection::parse_object("{", "p.json"); }).find("p.json: not valid JSON"), std::string::npos);
}
