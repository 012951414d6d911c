// How patch_all() checks that the process really calls gev::monkey's definitions: it calls the
// first "close" the dynamic linker finds with a marker descriptor and sees whether it arrived.
#pragma once

namespace gev::monkey::detail {

inline constexpr int kProbeDescriptor = -0x6765;  // never a valid descriptor: close() fails, EBADF

// Called by the close hook for negative descriptors.
void note_probe(int fd) noexcept;

}  // namespace gev::monkey::detail
