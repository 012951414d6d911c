#include "gevget/block_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace gevget {

void pwrite_all(int fd, const char* data, std::size_t n, std::uint64_t at,
                const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw std::system_error(errno, std::generic_category(), "cannot write " + path);
    data += w;
    n -= static_cast<std::size_t>(w);
    at += static_cast<std::uint64_t>(w);
  }
}

BlockWriter::BlockWriter(int fd, std::string path, gev::ThreadPool* pool, std::uint64_t offset,
                         std::uint64_t* durable_end)
    : fd_(fd),
      path_(std::move(path)),
      pool_(pool),
      next_offset_(offset),
      durable_end_(durable_end) {
  *durable_end_ = offset;
}

BlockWriter::~BlockWriter() {
  if (in_flight_ && !in_flight_->done.load(std::memory_order_acquire)) {
    // Blocks this thread briefly (one pwrite of at most 512 KiB): a write must never outlive
    // the descriptor, which is closed, or reused, right after.
    in_flight_->done.wait(false, std::memory_order_acquire);
  }
  if (in_flight_ && in_flight_->error == 0) {
    *durable_end_ = std::max(*durable_end_, in_flight_->offset + in_flight_->size);
  }
}

void BlockWriter::write_now(const char* data, std::size_t n, std::uint64_t at) {
  pwrite_all(fd_, data, n, at, path_);
  *durable_end_ = at + n;
}

void BlockWriter::write(std::string_view data) {
  if (pool_ == nullptr) {
    write_now(data.data(), data.size(), next_offset_);
    next_offset_ += data.size();
    return;
  }
  while (!data.empty()) {
    if (!current_) current_ = std::make_shared<Block>();
    if (current_->size == 0) current_->offset = next_offset_;
    const std::size_t n = std::min(data.size(), block_size - current_->size);
    std::memcpy(current_->bytes.get() + current_->size, data.data(), n);
    current_->size += n;
    next_offset_ += n;
    data.remove_prefix(n);
    if (current_->size == block_size) submit();
  }
}

void BlockWriter::submit() {
  wait_in_flight();
  std::shared_ptr<Block> block = std::move(current_);
  current_ = std::move(in_flight_);  // the finished block is reused for the next bytes
  if (current_) current_->size = 0;
  in_flight_ = block;
  block->done.store(false, std::memory_order_relaxed);
  block->error = 0;
  const int fd = fd_;
  pending_ = pool_->spawn([block, fd] {
    const char* p = block->bytes.get();
    std::size_t left = block->size;
    std::uint64_t at = block->offset;
    while (left > 0) {
      const ssize_t w = ::pwrite(fd, p, left, static_cast<off_t>(at));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        block->error = errno;
        break;
      }
      p += w;
      left -= static_cast<std::size_t>(w);
      at += static_cast<std::uint64_t>(w);
    }
    block->done.store(true, std::memory_order_release);
    block->done.notify_all();
  });
}

void BlockWriter::wait_in_flight() {
  if (!in_flight_) return;
  if (!in_flight_->done.load(std::memory_order_acquire)) pending_.get();  // parks this greenlet
  if (in_flight_->error != 0) {
    throw std::system_error(in_flight_->error, std::generic_category(), "cannot write " + path_);
  }
  *durable_end_ = in_flight_->offset + in_flight_->size;
}

void BlockWriter::flush() {
  if (pool_ == nullptr) return;
  wait_in_flight();
  if (current_ && current_->size > 0) {
    write_now(current_->bytes.get(), current_->size, current_->offset);
    current_->size = 0;
  }
}

}  // namespace gevget
