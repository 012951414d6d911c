// A small, strict JSON reader for the tests that check gevget's --json summary (not a test file
// itself: no _test suffix). parse_json() takes RFC 8259 JSON text and nothing else: objects
// (no repeated keys), arrays, strings (UTF-8, every escape, \uXXXX with surrogate pairs),
// numbers in the JSON grammar, true, false, null; anything malformed gives an empty optional.
// The accessors tolerate absence, so that a CHECK on a missing field shows what was there.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace gev::test {

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  // The member `key` of an object; nullptr when there is none or this is not an object.
  const Json* find(std::string_view key) const {
    if (type != Type::Object) return nullptr;
    for (const auto& [k, v] : object) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

namespace json_detail {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  std::optional<Json> parse() {
    Json v;
    if (!value(v, 0)) return std::nullopt;
    ws();
    if (i_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  bool more() const { return i_ < s_.size(); }
  bool at(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool eat(char c) {
    if (!at(c)) return false;
    ++i_;
    return true;
  }
  void ws() {
    while (at(' ') || at('\t') || at('\n') || at('\r')) ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool value(Json& out, int depth) {
    if (depth > kMaxDepth) return false;
    ws();
    if (!more()) return false;
    switch (s_[i_]) {
      case '{':
        return object(out, depth);
      case '[':
        return array(out, depth);
      case '"':
        out.type = Json::Type::String;
        return string(out.string);
      case 'n':
        out.type = Json::Type::Null;
        return literal("null");
      case 't':
        out.type = Json::Type::Bool;
        out.boolean = true;
        return literal("true");
      case 'f':
        out.type = Json::Type::Bool;
        out.boolean = false;
        return literal("false");
      default:
        return number(out);
    }
  }

  bool object(Json& out, int depth) {
    out.type = Json::Type::Object;
    ++i_;  // {
    ws();
    if (eat('}')) return true;
    for (;;) {
      ws();
      std::string key;
      if (!string(key)) return false;
      if (out.find(key) != nullptr) return false;  // a repeated key
      ws();
      if (!eat(':')) return false;
      Json v;
      if (!value(v, depth + 1)) return false;
      out.object.emplace_back(std::move(key), std::move(v));
      ws();
      if (eat('}')) return true;
      if (!eat(',')) return false;
    }
  }

  bool array(Json& out, int depth) {
    out.type = Json::Type::Array;
    ++i_;  // [
    ws();
    if (eat(']')) return true;
    for (;;) {
      Json v;
      if (!value(v, depth + 1)) return false;
      out.array.push_back(std::move(v));
      ws();
      if (eat(']')) return true;
      if (!eat(',')) return false;
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, finite.
  bool digits() {
    const std::size_t start = i_;
    while (more() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool number(Json& out) {
    const std::size_t start = i_;
    eat('-');
    if (!eat('0') && !(more() && s_[i_] >= '1' && s_[i_] <= '9' && digits())) return false;
    if (eat('.') && !digits()) return false;
    if (eat('e') || eat('E')) {
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + i_;
    auto [end, ec] = std::from_chars(first, last, out.number);
    if (ec == std::errc::result_out_of_range) {  // an underflow is a valid (tiny) number
      out.number = std::strtod(std::string(first, last).c_str(), nullptr);
      end = last, ec = std::errc();
    }
    if (ec != std::errc() || end != last || !std::isfinite(out.number)) return false;
    out.type = Json::Type::Number;
    return true;
  }

  bool hex4(unsigned& v) {
    if (s_.size() - i_ < 4) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= static_cast<unsigned>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v |= static_cast<unsigned>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v |= static_cast<unsigned>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }
  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // One raw (unescaped) UTF-8 sequence that starts with the byte `lead`, already consumed: well
  // formed, shortest form, no surrogates, at most U+10FFFF.
  bool raw_utf8(std::string& out, unsigned char lead) {
    int extra;
    unsigned cp, min;
    if (lead < 0x80) {
      out += static_cast<char>(lead);
      return true;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1, cp = lead & 0x1Fu, min = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2, cp = lead & 0x0Fu, min = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3, cp = lead & 0x07u, min = 0x10000;
    } else {
      return false;
    }
    const std::size_t start = i_ - 1;
    for (int k = 0; k < extra; ++k) {
      if (!more()) return false;
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return false;
    out.append(s_.substr(start, i_ - start));
    return true;
  }
  bool escape(std::string& out) {
    if (!more()) return false;
    switch (s_[i_++]) {
      case '"':
        out += '"';
        return true;
      case '\\':
        out += '\\';
        return true;
      case '/':
        out += '/';
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u': {
        unsigned cp;
        if (!hex4(cp)) return false;
        if (cp >= 0xDC00 && cp < 0xE000) return false;  // a low surrogate without a high one
        if (cp >= 0xD800 && cp < 0xDC00) {
          unsigned low;
          if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low >= 0xE000) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        put_utf8(out, cp);
        return true;
      }
      default:
        return false;
    }
  }
  bool string(std::string& out) {
    if (!eat('"')) return false;
    while (more()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (!(c == '\\' ? escape(out) : raw_utf8(out, c))) return false;
    }
    return false;  // no closing quote
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace json_detail

// The JSON value of `text`, or nothing when the text is not exactly one valid JSON value.
inline std::optional<Json> parse_json(std::string_view text) {
  return json_detail::Parser(text).parse();
}

// What the accessors below give for a member that is missing or of another type.
constexpr long long kJsonMissing = -999;

// o's member `key` (o may be nullptr); nullptr when there is none.
inline const Json* json_field(const Json* o, std::string_view key) {
  return o != nullptr ? o->find(key) : nullptr;
}

// A string member, or "<missing>", "<null>", "<not a string>".
inline std::string str_field(const Json* o, std::string_view key) {
  const Json* v = json_field(o, key);
  if (v == nullptr) return "<missing>";
  if (v->type == Json::Type::Null) return "<null>";
  if (v->type != Json::Type::String) return "<not a string>";
  return v->string;
}

// A number member, or kJsonMissing.
inline double num_field(const Json* o, std::string_view key) {
  const Json* v = json_field(o, key);
  if (v == nullptr || v->type != Json::Type::Number) return kJsonMissing;
  return v->number;
}

// An integer member, or kJsonMissing (also for a number with a fraction or out of range).
inline long long int_field(const Json* o, std::string_view key) {
  const Json* v = json_field(o, key);
  if (v == nullptr || v->type != Json::Type::Number) return kJsonMissing;
  const double n = v->number;
  if (n != std::trunc(n) || n < -9.0e18 || n > 9.0e18) return kJsonMissing;
  return static_cast<long long>(n);
}

// The elements of an array member; none when it is missing or not an array.
inline const std::vector<Json>& array_field(const Json* o, std::string_view key) {
  static const std::vector<Json> none;
  const Json* v = json_field(o, key);
  return v != nullptr && v->type == Json::Type::Array ? v->array : none;
}

// The type of a member, or nothing when it is missing.
inline std::optional<Json::Type> type_field(const Json* o, std::string_view key) {
  const Json* v = json_field(o, key);
  return v != nullptr ? std::optional<Json::Type>(v->type) : std::nullopt;
}

// gevget's summary: the entry of `downloads` whose url is `url` (the first); nullptr if none.
inline const Json* download_entry(const Json* summary, std::string_view url) {
  for (const Json& d : array_field(summary, "downloads")) {
    const Json* u = d.find("url");
    if (u != nullptr && u->type == Json::Type::String && u->string == url) return &d;
  }
  return nullptr;
}

}  // namespace gev::test
