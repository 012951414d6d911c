// The seed's Fibonacci example (示例-斐波那契数列), both versions: "get the next value only when
// it is needed, without global variables".
//
// Iterator version:                          yield version:
//
//   class Fab(object):                         def fab(max):
//       def __init__(self, max):                   n, a, b = 0, 0, 1
//           self.max = max                         while n < max:
//           self.n, self.a, self.b = 0, 0, 1           yield b
//       def __iter__(self):                            a, b = b, a + b
//           return self                                n = n + 1
//       def next(self):
//           if self.n < self.max:              for n in fab(5):
//               r = self.b                         print n
//               self.a, self.b = self.b, self.a + self.b
//               self.n = self.n + 1
//               return r
//           raise StopIteration()
//
//   for n in Fab(5):
//       print n
#include <gev/gev.hpp>
#include <gev/runtime/generator.hpp>

#include <cstddef>
#include <iostream>
#include <iterator>
#include <utility>

// The iterator class: the state lives in the object, next() computes one value.
class Fab {
 public:
  explicit Fab(int max) : max_(max) {}

  // Python's next(): a value, or false at the end (StopIteration).
  bool next(long& r) {
    if (n_ < max_) {
      r = b_;
      a_ = std::exchange(b_, a_ + b_);
      n_ = n_ + 1;
      return true;
    }
    return false;
  }

  // __iter__: a C++ input iterator over next(), so range-for works.
  class iterator {
   public:
    using value_type = long;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Fab* fab) : fab_(fab) { ++*this; }
    long operator*() const { return value_; }
    iterator& operator++() {
      if (!fab_->next(value_)) fab_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return fab_ == nullptr; }

   private:
    Fab* fab_ = nullptr;
    long value_ = 0;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

 private:
  int max_;
  int n_ = 0;
  long a_ = 0;
  long b_ = 1;
};

// [fab]
// The yield version: the state is just local variables of a generator body.
gev::Generator<long> fab(int max) {
  return gev::Generator<long>([max](gev::Yield<long>& co) {
    int n = 0;
    long a = 0, b = 1;
    while (n < max) {
      co.yield(b);
      a = std::exchange(b, a + b);
      n = n + 1;
    }
  });
}
// [fab]

int main() {
  std::cout << "Fab(5), iterator class:" << std::endl;
  for (long n : Fab(5)) std::cout << n << std::endl;

  std::cout << "fab(5), generator:" << std::endl;
  for (long n : fab(5)) std::cout << n << std::endl;
  return 0;
}
