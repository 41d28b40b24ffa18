#include "engine/scheduler.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <exception>
#include <mutex>

namespace oversight {

int64_t ParallelFor(const std::vector<int64_t>& items, int threads,
                    const std::function<void(int64_t)>& fn,
                    const std::function<bool()>& should_stop) {
  if (threads < 1) threads = 1;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> completed{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
  boost::asio::thread_pool pool(static_cast<size_t>(threads));
  for (int w = 0; w < threads; ++w) {
    boost::asio::post(pool, [&] {
      while (!failed.load() && !should_stop()) {
        const size_t i = next.fetch_add(1);
        if (i >= items.size()) break;
        try {
          fn(items[i]);
          completed.fetch_add(1);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (!error) error = std::current_exception();
          failed.store(true);
        }
      }
    });
  }
  pool.join();
  if (error) std::rethrow_exception(error);
  return completed.load();
}

}  // namespace oversight
