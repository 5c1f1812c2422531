// Counts shared by the worker threads (proxy/shared_counts.h): the limits count the whole process,
// and a listener's counters are the sum of one slot per worker.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "proxy/metrics_scrape.h"
#include "proxy/shared_counts.h"

using ringway::ListenerCounters;
using ringway::ProcessConnections;

TEST_CASE("max_connections_per_ip counts an address over every worker") {
  ProcessConnections connections;
  CHECK(connections.admit_ip("10.0.0.1", 2));  // worker 0
  CHECK(connections.admit_ip("10.0.0.1", 2));  // worker 1
  CHECK_FALSE(connections.admit_ip("10.0.0.1", 2));
  CHECK(connections.admit_ip("10.0.0.2", 2));  // another address has its own count
  connections.release_ip("10.0.0.1");
  CHECK(connections.admit_ip("10.0.0.1", 2));
  connections.release_ip("10.0.0.9");  // unknown: ignored
}

TEST_CASE("the process-wide session count sees every thread's sessions") {
  ProcessConnections connections;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) connections.started();
      for (int i = 0; i < 500; ++i) connections.finished();
    });
  }
  for (auto& t : threads) t.join();
  CHECK(connections.live() == 2000);
  CHECK(connections.started() == 2001);  // the count including the new session
}

TEST_CASE("a listener's counters are the sum of the workers' slots") {
  ListenerCounters counters(3);
  counters.slot(0).total.add(5);
  counters.slot(2).total.add(2);
  counters.slot(1).active.add(4);
  counters.slot(1).active.sub(1);
  CHECK(counters.total() == 7);
  CHECK(counters.active() == 3);
}

TEST_CASE("per-worker connection figures are exposed with a worker label") {
  ringway::metrics::Snapshot s;
  s.workers = {{3, 10}, {1, 7}};
  const std::string text = ringway::metrics::render(s);
  CHECK(text.find("ringway_workers 2\n") != std::string::npos);
  CHECK(text.find("ringway_worker_connections_active{worker=\"0\"} 3\n") != std::string::npos);
  CHECK(text.find("ringway_worker_connections_active{worker=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("ringway_worker_connections_total{worker=\"1\"} 7\n") != std::string::npos);
}
