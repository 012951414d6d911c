// The seed's block-wise file reader (示例-按块读取文件): calling read() on a whole file can take
// unpredictable memory; a generator that yields fixed-size blocks keeps it bounded.
//
//   def read_file(fpath):
//      BLOCK_SIZE = 1024
//      with open(fpath, 'rb') as f:
//          while True:
//              block = f.read(BLOCK_SIZE)
//              if block:
//                  yield block
//              else:
//                  return
//
// Usage: read_file_blocks [PATH]   (default: this example's own source file)
// Prints each block's size, then checks the sum against the file size. It then reads only the
// first two blocks and stops: destroying the generator closes it, so the `with` (here an RAII
// file handle) closes the file although the loop never reached the end.
#include <gev/gev.hpp>
#include <gev/runtime/generator.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

constexpr std::size_t kBlockSize = 1024;

static int g_open_files = 0;  // to show that the generator's file gets closed

struct FileCloser {
  void operator()(std::FILE* f) const {
    std::fclose(f);
    --g_open_files;
  }
};

// [read-file]
gev::Generator<std::vector<char>> read_file(std::string path) {
  return gev::Generator<std::vector<char>>([path](gev::Yield<std::vector<char>>& co) {
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));  // with open(...)
    if (!f) throw std::runtime_error("cannot open " + path);
    ++g_open_files;
    for (;;) {
      std::vector<char> block(kBlockSize);
      block.resize(std::fread(block.data(), 1, kBlockSize, f.get()));
      if (!block.empty()) {
        co.yield(std::move(block));
      } else {
        return;
      }
    }
  });
}
// [read-file]

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : __FILE__;
  std::cout << "reading " << path << " in " << kBlockSize << "-byte blocks" << std::endl;

  std::size_t blocks = 0, total = 0;
  try {
    for (const std::vector<char>& block : read_file(path)) {
      ++blocks;
      total += block.size();
      std::cout << "block " << blocks << ": " << block.size() << " bytes" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cout << "error: " << e.what() << std::endl;
    return 1;
  }
  const auto size = std::filesystem::file_size(path);
  std::cout << blocks << " blocks, " << total << " bytes (file size " << size
            << " bytes): " << (total == size ? "OK" : "MISMATCH") << std::endl;

  {
    auto reader = read_file(path);
    std::size_t taken = 0;
    for (const auto& block : reader) {
      (void)block;
      if (++taken == 2) break;
    }
    std::cout << "stopped after " << taken
              << " blocks; open files while the generator lives: " << g_open_files << std::endl;
  }
  std::cout << "open files after the generator is destroyed: " << g_open_files << std::endl;
  return total == size && g_open_files == 0 ? 0 : 1;
}
