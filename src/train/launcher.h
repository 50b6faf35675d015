// `train --nproc N`: the processes of a data-parallel run on this host (train/distributed.h), started the way
// torchrun starts them: N copies of this command line, each told its place by RANK, LOCAL_RANK, WORLD_SIZE,
// MASTER_ADDR (127.0.0.1) and MASTER_PORT (a free port). Rank 0 prints to this terminal; the others write to
// rank-R.log in a folder this process names. When one process fails, the others are stopped (SIGTERM, then
// SIGKILL after a grace period) and the run folder is marked failed with the reason; checkpoints are written only by
// rank 0, atomically, so the last complete one stays usable for --resume.
#pragma once

#include <string>
#include <vector>

namespace gt::train {

// The process groups this build can form for `train --nproc`: "gloo (CPU)", "nccl (CUDA)", both, or "" when it was
// built without a c10d backend's headers (train/distributed.cpp, CMakeLists.txt).
std::string data_parallel_backends();

// The file rank 0 writes its run folder's path to (so that the launcher can mark a failed run); named by the
// launcher in GT_RUN_FOLDER_FILE.
std::string run_folder_note_file();

// Runs `command` (argv[0] is replaced by this program) as `nproc` processes and waits for them. Returns the exit
// code: 0 when every process succeeded, 130 when the run was interrupted (every process stopped at the same step),
// 1 when one failed (the message names it and where the others' logs are).
int launch_ranks(int nproc, const std::vector<std::string>& command);

}  // namespace gt::train
