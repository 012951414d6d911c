// Writes a download's bytes to its file. Large bodies are gathered into 512 KiB blocks that a
// writer thread puts into the file (pwrite) while the hub goes on receiving: copying into the
// page cache costs as much CPU as receiving, and this way the two run on different cores. Small
// bodies are written directly. Each stream (a download, or one segment of a split one) has its
// own writer; its writes are at increasing, contiguous offsets.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <gev/runtime/thread_pool.hpp>

namespace gevget {

class BlockWriter {
 public:
  static constexpr std::size_t block_size = 128 * 1024;

  // Writes start at `offset`; *durable_end follows the end of what is in the file (never what
  // is only buffered), so a state file can trust it. A null pool writes synchronously.
  BlockWriter(int fd, std::string path, gev::ThreadPool* pool, std::uint64_t offset,
              std::uint64_t* durable_end);
  // Waits for the block in flight (the file descriptor must outlive every write to it); what
  // is still buffered is dropped.
  ~BlockWriter();
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  // Throws std::system_error when the file cannot be written.
  void write(std::string_view data);
  // Everything given to write() is in the file when this returns.
  void flush();

 private:
  struct Block {
    std::unique_ptr<char[]> bytes{new char[block_size]};
    std::size_t size = 0;
    std::uint64_t offset = 0;
    std::atomic<bool> done{true};
    int error = 0;
  };
  void submit();
  void wait_in_flight();
  void write_now(const char* data, std::size_t n, std::uint64_t at);

  int fd_;
  std::string path_;
  gev::ThreadPool* pool_;
  std::uint64_t next_offset_;
  std::uint64_t* durable_end_;
  std::shared_ptr<Block> current_, in_flight_;
  gev::ThreadResult<void> pending_;
};

// pwrite(2) until everything is written; throws std::system_error naming the file.
void pwrite_all(int fd, const char* data, std::size_t n, std::uint64_t at, const std::string& path);

}  // namespace gevget
