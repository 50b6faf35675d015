#include "train/launcher.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "core/error.h"
#include "core/system_info.h"
#include "train/run_folder.h"

namespace fs = std::filesystem;

namespace gt::train {

namespace {

// How long the other processes have to stop after one failed, before they are killed.
constexpr std::chrono::seconds kStopGrace{10};

std::vector<pid_t> g_children;

void forward_signal(int sig) {
  // Ctrl-C reaches every process of the terminal's group; a signal sent to this process alone is passed on, so
  // that the ranks stop together at the next step, with a checkpoint.
  for (pid_t p : g_children)
    if (p > 0) ::kill(p, sig);
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return cat("was killed by signal ", sig, " (", strsignal(sig), ")");
  }
  return cat("exited with code ", WEXITSTATUS(status));
}

// The last lines of a rank's log, for the failure message.
std::string log_tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "\n    " + all[i];
  return out;
}

}  // namespace

std::string run_folder_note_file() {
  const char* f = std::getenv("GT_RUN_FOLDER_FILE");
  return f ? f : "";
}

int launch_ranks(int nproc, const std::vector<std::string>& command) {
  GT_CHECK(nproc >= 2 && !command.empty(), "launch_ranks: ", nproc, " processes");
  const std::string exe = this_executable();
  char dir_template[] = "/tmp/gemma-tune-ranks-XXXXXX";
  if (!::mkdtemp(dir_template)) fail_input("train --nproc: cannot create a folder for the ranks' logs in /tmp: ",
                                           std::strerror(errno));
  const std::string logs = dir_template;
  const std::string note = logs + "/run-folder";
  const int port = free_loopback_port();
  std::cerr << "nproc       " << nproc << " processes (ranks 0-" << nproc - 1 << ", rendezvous at 127.0.0.1:" << port
            << "); rank 0 prints here, the others write to " << logs << "/rank-R.log\n";

  std::vector<char*> argv;
  std::vector<std::string> args = command;
  args[0] = exe;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // As torchrun does: N processes share the cores instead of each taking all of them (libtorch's intra-op threads).
  const std::string threads =
      std::to_string(std::max(1u, std::thread::hardware_concurrency() / static_cast<unsigned>(nproc)));
  const bool set_threads = !std::getenv("OMP_NUM_THREADS");
  g_children.assign(static_cast<size_t>(nproc), -1);
  auto old_int = std::signal(SIGINT, forward_signal);
  auto old_term = std::signal(SIGTERM, forward_signal);
  for (int r = 0; r < nproc; ++r) {
    const std::string log = cat(logs, "/rank-", r, ".log");
    const pid_t pid = ::fork();
    if (pid < 0) {
      forward_signal(SIGKILL);
      fail_input("train --nproc: cannot start rank ", r, ": ", std::strerror(errno));
    }
    if (pid == 0) {
      // The child: only async-signal-safe calls until exec. Its own process group, so that a Ctrl-C in the terminal
      // reaches it once, through the launcher, not twice (a second Ctrl-C means "leave at once").
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
      ::setpgid(0, 0);
#if defined(__linux__)
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the launcher killed: the ranks stop too
#endif
      const std::string rank = std::to_string(r), size = std::to_string(nproc), p = std::to_string(port);
      ::setenv("RANK", rank.c_str(), 1);
      ::setenv("LOCAL_RANK", rank.c_str(), 1);
      ::setenv("WORLD_SIZE", size.c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", size.c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", p.c_str(), 1);
      ::setenv("GT_RUN_FOLDER_FILE", note.c_str(), 1);
      if (set_threads) ::setenv("OMP_NUM_THREADS", threads.c_str(), 1);
      if (r > 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
          ::dup2(fd, STDOUT_FILENO);
          ::dup2(fd, STDERR_FILENO);
          ::close(fd);
        }
      }
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    g_children[static_cast<size_t>(r)] = pid;
  }

  // Wait for all; at the first failure stop the others.
  int running = nproc, failed_rank = -1, interrupted = 0;
  std::string failure;
  bool stopping = false;  // the others were sent SIGTERM; at kill_at they get SIGKILL
  std::chrono::steady_clock::time_point kill_at{};
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, stopping ? WNOHANG : 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break;
    if (pid == 0) {  // WNOHANG, nobody done yet
      if (std::chrono::steady_clock::now() >= kill_at) {
        forward_signal(SIGKILL);
        stopping = false;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      continue;
    }
    int rank = -1;
    for (int r = 0; r < nproc; ++r)
      if (g_children[static_cast<size_t>(r)] == pid) rank = r;
    if (rank < 0) continue;
    g_children[static_cast<size_t>(rank)] = -1;
    --running;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 130) {
      ++interrupted;
      continue;
    }
    if (!ok && failed_rank < 0) {
      failed_rank = rank;
      failure = cat("rank ", rank, " (pid ", pid, ") ", describe_status(status));
      if (running > 0) {
        std::cerr << "error: " << failure << "; stopping the other " << running << " process(es)\n";
        forward_signal(SIGTERM);
        stopping = true;
        kill_at = std::chrono::steady_clock::now() + kStopGrace;
      }
    }
  }
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);

  if (failed_rank < 0) {
    std::error_code ec;
    fs::remove_all(logs, ec);
    return interrupted > 0 ? 130 : 0;
  }
  // Mark the run failed with the reason (rank 0 may have recorded only what it saw: a peer gone).
  std::string run_path;
  {
    std::ifstream in(note);
    std::getline(in, run_path);
  }
  std::string message = cat(failure, "; the other processes were stopped");
  if (failed_rank > 0) {
    const std::string log = cat(logs, "/rank-", failed_rank, ".log");
    message += cat(". Its log: ", log, log_tail(log, 5));
  }
  if (!run_path.empty() && fs::exists(fs::path(run_path) / "metadata.json")) {
    try {
      RunFolder run = RunFolder::open(run_path);
      const nlohmann::json error = run.metadata().value("error", nlohmann::json());
      const std::string earlier = error.is_string() ? error.get<std::string>() : std::string();
      run.update_metadata({{"status", "failed"},
                           {"finished_at", utc_timestamp()},
                           {"error", earlier.empty() ? failure : cat(failure, "; rank 0: ", earlier)}});
      message += cat("\nThe run folder ", run_path, " keeps its last complete checkpoint; continue with: gemma-tune "
                     "train --resume ", run_path, " --nproc ", nproc);
    } catch (const std::exception& e) {
      message += cat("\n(could not mark ", run_path, " failed: ", e.what(), ")");
    }
  }
  fail_input(message);
}

}  // namespace gt::train
