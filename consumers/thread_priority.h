// CPU priority of the node's own pipeline threads. Under full load every core is busy and the
// HTTP io thread, which decides each request serially, is what paces ingest: when the threads
// downstream of it (the append thread that encodes and produces, the store writer) compete with
// it at equal weight, it waits for a core while they work on what it already decided, and the
// whole pipeline runs slower. Those threads run ten nice levels below, so the scheduler gives
// the deciding thread the core first; they still get the rest, which under load is most of a
// core. Linux: nice values are per thread.
// Thread-safety: acts on the calling thread only.
#pragma once

namespace tally {

// The pipeline threads' nice offset unless configured otherwise.
inline constexpr int default_pipeline_nice = 10;

// Raises the calling thread's nice value by delta (0 leaves it, at most 19); false when the
// system refused.
bool lower_thread_priority(int delta);

// The calling thread's nice value.
int thread_nice();

}  // namespace tally
