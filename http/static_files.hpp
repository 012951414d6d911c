/// @file
/// Serving files from a directory (like nginx's root / Flask's send_from_directory): Range
/// (206, 416), conditional GET (ETag and If-None-Match, Last-Modified and If-Modified-Since:
/// 304), Content-Type from the extension, and sendfile(2) for the body.
///
/// @code
/// app.route("/static/<path:file>", [](gev::http::Request& req) {
///   return gev::http::send_from_directory("/srv/www", req.param("file"), req);
/// });
/// @endcode
///
/// Paths are resolved inside the root: "..", absolute paths, NUL and backslashes are refused (404,
/// never a file outside the root), and so is a symlink leading out of it. Directories are 404.
#pragma once

#include <string>
#include <string_view>

#include "gev/http/request.hpp"
#include "gev/http/response.hpp"

namespace gev::http {

/// The response for `relative_path` under `root` (GET and HEAD; other methods get 405).
Response send_from_directory(const std::string& root, std::string_view relative_path,
                             const Request& req);

/// The Content-Type for `path`, from its extension: "text/html; charset=utf-8" for
/// "index.html", "application/octet-stream" when unknown.
std::string_view content_type_for(std::string_view path) noexcept;

}  // namespace gev::http
