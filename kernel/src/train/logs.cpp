// Training logs a user can plot (SEED D3): TensorBoard event files written without protobuf or
// TensorFlow (hand-encoded Event messages in TFRecord framing) and metrics.csv.
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "hearth/error.h"
#include "hearth/train.h"

namespace hearth::train {

namespace {

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

// Protobuf wire encoding of the few fields an Event with scalar summaries needs.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, int field, int wire_type) { put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type); }
void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}
template <typename T>
void put_fixed(std::string& out, int field, T v) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  put_tag(out, field, sizeof(T) == 8 ? 1 : 5);
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian host (x86-64, aarch64), as protobuf's fixed types
  out.append(buf, sizeof(T));
}

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Event { double wall_time = 1; int64 step = 2; string file_version = 3 | Summary summary = 5 }
std::string event(int64_t step, const std::string* file_version, const std::string* summary) {
  std::string e;
  put_fixed(e, 1, wall_time());
  if (step != 0) {
    put_tag(e, 2, 0);
    put_varint(e, static_cast<uint64_t>(step));
  }
  if (file_version) put_bytes(e, 3, *file_version);
  if (summary) put_bytes(e, 5, *summary);
  return e;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

SummaryWriter::SummaryWriter(const std::string& log_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  if (ec) throw FormatError("SummaryWriter: cannot create log directory '" + log_dir + "': " + ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  const auto secs = static_cast<long long>(wall_time());
  // The pid keeps two writers started in the same second (a resumed run) apart.
  path_ = (fs::path(log_dir) / ("events.out.tfevents." + std::to_string(secs) + "." + host + "." +
                                std::to_string(getpid()) + ".hearth"))
              .string();
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw FormatError("SummaryWriter: cannot create '" + path_ + "': " + std::strerror(errno));
  const std::string version = "brain.Event:2";
  write_record(event(0, &version, nullptr));
}

SummaryWriter::~SummaryWriter() {
  if (file_) std::fclose(file_);
}

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  std::string v;  // Summary.Value { string tag = 1; float simple_value = 2; }
  put_bytes(v, 1, tag);
  put_fixed(v, 2, static_cast<float>(value));
  std::string summary;  // Summary { repeated Value value = 1; }
  put_bytes(summary, 1, v);
  write_record(event(step, nullptr, &summary));
}

void SummaryWriter::write_record(const std::string& data) {
  const uint64_t len = data.size();
  char header[12];
  std::memcpy(header, &len, 8);
  const uint32_t len_crc = masked_crc32c(header, 8);
  std::memcpy(header + 8, &len_crc, 4);
  const uint32_t data_crc = masked_crc32c(data.data(), data.size());
  const bool ok = std::fwrite(header, 1, 12, file_) == 12 && std::fwrite(data.data(), 1, data.size(), file_) == data.size() &&
                  std::fwrite(&data_crc, 1, 4, file_) == 4 && std::fflush(file_) == 0;
  if (!ok) throw FormatError("SummaryWriter: cannot write '" + path_ + "': " + std::strerror(errno));
}

namespace {

constexpr const char* kHeader = "kind,step,epoch,loss,lr,samples_per_second,test_loss,test_accuracy";

std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

class LogDirCallback : public Callback {
 public:
  explicit LogDirCallback(const std::string& dir) : tb_(dir) {
    const std::string csv = (std::filesystem::path(dir) / "metrics.csv").string();
    const bool fresh = !std::filesystem::exists(csv) || std::filesystem::file_size(csv) == 0;
    csv_ = std::fopen(csv.c_str(), "a");
    if (!csv_) throw FormatError("log dir: cannot open '" + csv + "': " + std::strerror(errno));
    csv_path_ = csv;
    // One row kind per meaning (docs/cli.md "metrics.csv"): `step` rows every log interval carry
    // the mean training loss of that interval; `epoch` rows carry the epoch's mean training loss
    // and the test figures. An older file with another header is moved aside, not mixed.
    if (!fresh && first_line(csv) != kHeader) {
      std::fclose(csv_);
      std::filesystem::rename(csv, csv + ".old");
      csv_ = std::fopen(csv.c_str(), "a");
      if (!csv_) throw FormatError("log dir: cannot open '" + csv + "': " + std::strerror(errno));
      row(kHeader);
      row("\n");
    } else if (fresh) {
      row(kHeader);
      row("\n");
    }
  }
  ~LogDirCallback() override {
    if (csv_) std::fclose(csv_);
  }
  void on_step(const StepInfo& s) override {
    char buf[256];
    std::snprintf(buf, sizeof buf, "step,%lld,%lld,%.6g,%.6g,%.1f,,\n", static_cast<long long>(s.step),
                  static_cast<long long>(s.epoch + 1), s.loss, s.lr, s.samples_per_second);
    row(buf);
    tb_.add_scalar("train/loss", s.loss, s.step);
    tb_.add_scalar("train/lr", s.lr, s.step);
    tb_.add_scalar("train/samples_per_second", s.samples_per_second, s.step);
  }
  void on_epoch_end(const EpochResult& e, int64_t step, double lr) override {
    char buf[320];
    char test[96] = ",";
    if (e.eval) std::snprintf(test, sizeof test, "%.6g,%.6g", e.eval->loss, e.eval->accuracy);
    std::snprintf(buf, sizeof buf, "epoch,%lld,%lld,%.6g,%.6g,%.1f,%s\n", static_cast<long long>(step),
                  static_cast<long long>(e.epoch), e.train_loss, lr, e.samples_per_second, test);
    row(buf);
    if (e.eval) {
      tb_.add_scalar("test/accuracy", e.eval->accuracy, step);
      tb_.add_scalar("test/loss", e.eval->loss, step);
    }
  }

 private:
  void row(const char* s) {
    if (std::fputs(s, csv_) < 0 || std::fflush(csv_) != 0)
      throw FormatError("log dir: cannot write '" + csv_path_ + "': " + std::strerror(errno));
  }
  SummaryWriter tb_;
  std::FILE* csv_ = nullptr;
  std::string csv_path_;
};

}  // namespace

std::shared_ptr<Callback> make_log_dir_callback(const std::string& log_dir) {
  return std::make_shared<LogDirCallback>(log_dir);
}

}  // namespace hearth::train
