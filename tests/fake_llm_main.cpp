// fake_llm_server: tests/fake_llm.h as a program, to try the text protocols
// without a GPU:
//   build/tests/fake_llm_server --port 8000 --qa data/qa/tiny_qa.jsonl
// then run a text config with endpoint.base_url = http://127.0.0.1:8000/v1.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "fake_llm.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  int port = 8000;
  std::string qa;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (arg == "--qa" && i + 1 < argc) {
      qa = argv[++i];
    } else {
      std::cerr << "usage: fake_llm_server [--port N] [--qa FILE.jsonl]\n";
      return 2;
    }
  }
  try {
    oversight::HttpServerOptions options;
    options.port = static_cast<uint16_t>(port);
    oversight::FakeLlm llm(qa, options);
    std::cout << "fake OpenAI-compatible server at " << llm.base_url() << std::endl;
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::cout << llm.requests() << " requests served\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
