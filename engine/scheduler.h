// Episode scheduler: runs work items on a Boost.Asio thread pool.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace oversight {

// Calls fn(item) for every item, on `threads` workers of a
// boost::asio::thread_pool (threads == 1 runs on one pool thread too, so both
// paths are the same code). Items are handed out in order from a shared
// counter; results must not depend on which worker ran an item.
// Stops handing out items once should_stop() returns true; items already
// started finish. The first exception thrown by fn stops the rest and is
// rethrown here after all workers have returned.
// Returns the number of items completed.
int64_t ParallelFor(const std::vector<int64_t>& items, int threads,
                    const std::function<void(int64_t)>& fn,
                    const std::function<bool()>& should_stop);

}  // namespace oversight
