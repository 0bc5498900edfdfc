// adept_grad_seen.cpp: which leaf tensors a backward delivered a gradient to. An optimizer whose parameters'
// gradients are views of its own flat buffer (accumulated into in place, zeroed rather than dropped between steps)
// cannot tell "no gradient" from a null .grad any more; a post-hook on each leaf's gradient accumulator can.
#include "adept_internal.hpp"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <atomic>
#include <memory>
#include <vector>

using adept_internal::unwrap;

namespace {

struct Marks {
    explicit Marks(size_t n) : seen(new std::atomic<uint8_t>[n]), size(n) {
        for (size_t i = 0; i < n; i++) seen[i].store(0, std::memory_order_relaxed);
    }
    std::unique_ptr<std::atomic<uint8_t>[]> seen;
    size_t size;
};

// A post-hook on a leaf's gradient accumulator (the same signature in libtorch 1.13 and 2.x): runs once the
// gradient has been accumulated into .grad.
class MarkHook : public torch::autograd::FunctionPostHook {
  public:
    MarkHook(std::weak_ptr<Marks> marks, size_t index) : marks_(std::move(marks)), index_(index) {}

    torch::autograd::variable_list operator()(const torch::autograd::variable_list &outputs,
                                              const torch::autograd::variable_list & /* inputs */) override {
        if (auto marks = marks_.lock()) marks->seen[index_].store(1, std::memory_order_relaxed);
        return outputs;
    }

  private:
    std::weak_ptr<Marks> marks_;
    size_t index_;
};

}  // namespace

struct at_grad_seen_s {
    std::shared_ptr<Marks> marks;
    std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  // the hooks live in them: kept alive here
    std::vector<uintptr_t> hook_keys;

    ~at_grad_seen_s() {
        for (size_t i = 0; i < accumulators.size() && i < hook_keys.size(); i++) accumulators[i]->del_post_hook(hook_keys[i]);
    }
};

namespace {
adept_internal::HandleRegistry<at_grad_seen_s> &trackers() {
    static auto *registry = new adept_internal::HandleRegistry<at_grad_seen_s>("gradient tracker");  // never destroyed
    return *registry;
}
}  // namespace

#pragma GCC visibility push(default)

at_grad_seen at_grad_seen_new(const at_tensor *tensors, int n) {
    GUARD_BEGIN
    if (n < 0 || (n > 0 && tensors == nullptr)) throw std::invalid_argument("gradient tracker: bad tensor list");
    auto tracker = std::make_unique<at_grad_seen_s>();
    tracker->marks = std::make_shared<Marks>(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) {
        const at::Tensor &t = unwrap(tensors[i], "tensor");
        if (!t.requires_grad() || !t.is_leaf())
            throw std::invalid_argument("gradient tracker: tensor " + std::to_string(i) + " is not a leaf that requires grad");
        std::shared_ptr<torch::autograd::Node> accumulator = torch::autograd::impl::grad_accumulator(t);
        if (!accumulator) throw std::invalid_argument("gradient tracker: tensor " + std::to_string(i) + " has no gradient accumulator");
        tracker->hook_keys.push_back(accumulator->add_post_hook(std::make_unique<MarkHook>(tracker->marks, static_cast<size_t>(i))));
        tracker->accumulators.push_back(std::move(accumulator));
    }
    return static_cast<at_grad_seen>(trackers().add(std::move(tracker)));
    GUARD_END(nullptr)
}

int at_grad_seen_read(at_grad_seen tracker, uint8_t *out, int clear) {
    GUARD_BEGIN
    at_grad_seen_s &t = trackers().get(tracker);
    if (out == nullptr && t.marks->size > 0) throw std::invalid_argument("gradient tracker: null output");
    for (size_t i = 0; i < t.marks->size; i++)
        out[i] = clear != 0 ? t.marks->seen[i].exchange(0, std::memory_order_relaxed) : t.marks->seen[i].load(std::memory_order_relaxed);
    return 0;
    GUARD_END(-1)
}

int at_grad_seen_free(at_grad_seen tracker) {
    GUARD_BEGIN
    if (tracker == nullptr) return 0;
    std::unique_ptr<at_grad_seen_s> freed = trackers().take(tracker);
    if (!freed) throw std::invalid_argument("stale or invalid gradient tracker handle (already freed?)");
    return 0;
    GUARD_END(-1)
}

#pragma GCC visibility pop
