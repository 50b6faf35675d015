// The one precompiled header of the gt_torch library and the torch tests (see CMakeLists.txt).
// Only .cpp files reach libtorch, and only through this header.
#pragma once
#include <torch/torch.h>
