// Hooks for the reliability tests, read from the environment (no effect unless the variable is set).
#pragma once

#include <string>

namespace gt::train {

// GT_TEST_SIGNAL_AT=POINT:SIGNAL raises SIGNAL (a number) when the run reaches POINT: "set-up" (right after the run
// is marked running), "eval-N" (right after the evaluation row of step N is written), "checkpoint-N" (checkpoint
// N's folder half written: the adapter and optimizer state, not the rest) or "checkpoint-N-renamed" (renamed into
// place, DONE not yet written) or "step-N" (right after step N's update). POINT:SIGNAL@R raises it only in the
// data-parallel process of RANK R. The tests use it for a Ctrl-C during set-up and a kill -9 at an exact moment.
void test_signal_at(const std::string& point);

}  // namespace gt::train
