package adept.train;

import adept.tensor.DType;
import adept.tune.LoraAdapters;

/** {@link TrainSettings}' checks: what can be checked without reading any file; each message is one line naming the key. */
final class SettingsCheck {
    private SettingsCheck() {}

    static void validate(TrainSettings.Inputs in, TrainSettings.Preparation prep, TrainSettings.Optimizer opt, TrainSettings.Stage2 s2,
                         TrainSettings.Lora lora, TrainSettings.Output out, TrainSettings.Hardware hw) {
        requireFinite(in, prep, opt, s2, lora, out, hw);
        require(in.model() != null, "model: a model folder is required");
        require(in.data() != null, "data: a training corpus is required");
        require(out.out() != null, "out: an output folder is required");
        require(prep.mode() != null, "mode: give adept, full, llama-pro, adept-no-stage1, adept-no-stage2 or lora");
        require(opt.schedule() != null, "schedule: give cosine, linear or constant");
        require(s2.granularity() != null, "granularity: give tensor, head or neuron");
        require(s2.rateMode() != null, "rate_mode: give continuous, split or mask");
        require(s2.rateNorm() != null, "rate_norm: give global, per-kind or mean");
        require(hw.device() != null, "device: give cpu, cuda or cuda:N");
        DType d = hw.dtype();
        // float16 would need loss scaling (its gradients underflow); integer types cannot train
        require(d == DType.FLOAT32 || d == DType.BFLOAT16 || d == DType.FLOAT64,
                "dtype " + d + " cannot train here: use float32, bfloat16 (fp32 master weights) or float64");
        require(opt.steps() > 0, "steps must be > 0, got " + opt.steps());
        require(prep.k() == null || prep.k() > 0, "k must be > 0, got " + prep.k());
        require(prep.k() == null || prep.layers() == null, "give k or layers, not both");
        require(prep.layers() == null || !prep.layers().contains(null), "layers: a layer index is missing in " + prep.layers());
        require(prep.expandBudget() > 0 && prep.expandBudget() < 1, "expand_budget must be in (0, 1), got " + prep.expandBudget());
        require(in.blockSize() == null || in.blockSize() >= 2, "block_size must be >= 2, got " + in.blockSize());
        require(in.batchSize() > 0, "batch_size must be > 0, got " + in.batchSize());
        require(in.gradAccum() > 0, "grad_accum must be > 0, got " + in.gradAccum());
        require(opt.lr() > 0, "lr must be > 0, got " + opt.lr());
        require(opt.warmupSteps() == null || opt.warmupSteps() >= 0, "warmup_steps must be >= 0, got " + opt.warmupSteps());
        require(opt.weightDecay() >= 0, "weight_decay must be >= 0, got " + opt.weightDecay());
        require(opt.beta1() >= 0 && opt.beta1() < 1, "beta1 must be in [0, 1), got " + opt.beta1());
        require(opt.beta2() >= 0 && opt.beta2() < 1, "beta2 must be in [0, 1), got " + opt.beta2());
        require(opt.eps() > 0, "eps must be > 0, got " + opt.eps());
        require(opt.maxGradNorm() >= 0, "max_grad_norm must be >= 0 (0 = no clipping), got " + opt.maxGradNorm());
        require(s2.refreshEvery() > 0, "refresh_every (R) must be > 0, got " + s2.refreshEvery());
        require(s2.quantile() > 0 && s2.quantile() < 1, "quantile must be in (0, 1), got " + s2.quantile());
        require(s2.lrLow() == null || s2.lrLow() > 0, "lr_low must be > 0, got " + s2.lrLow());
        require(s2.lrHigh() == null || s2.lrHigh() > 0, "lr_high must be > 0, got " + s2.lrHigh());
        require(s2.probeBatches() >= 0, "probe_batches must be >= 0 (0 = all), got " + s2.probeBatches());
        require(s2.probeBatchSize() > 0, "probe_batch_size must be > 0, got " + s2.probeBatchSize());
        require(prep.probeCacheMemory() != null, "probe_cache_memory: give a size such as 4GiB");
        try {
            adept.probe.MemorySize.parse(prep.probeCacheMemory());
        } catch (IllegalArgumentException e) {
            throw new TrainException("probe_cache_memory: " + e.getMessage());
        }
        require(hw.gradCheckpointing() >= 0, "grad_checkpointing must be >= 0 (0 = off, N = segments of N layers), got " + hw.gradCheckpointing());
        require(out.evalEvery() == null || out.evalEvery() >= 0, "eval_every must be >= 0, got " + out.evalEvery());
        require(out.evalTokens() >= 0, "eval_tokens must be >= 0, got " + out.evalTokens());
        require(out.saveEvery() == null || out.saveEvery() > 0, "save_every must be > 0, got " + out.saveEvery());
        require(out.keepCheckpoints() > 0, "keep_checkpoints must be > 0, got " + out.keepCheckpoints());
        require(out.logEvery() > 0, "log_every must be > 0, got " + out.logEvery());
        require(lora.rank() == null || lora.rank() > 0, "lora_rank must be > 0, got " + lora.rank());
        require(lora.rank() == null || lora.match() == null, "give lora_rank or lora_match, not both");
        loraMatchCount(lora.match());
        require(lora.alpha() == null || lora.alpha() > 0, "lora_alpha must be > 0, got " + lora.alpha());
        require(lora.dropout() >= 0 && lora.dropout() < 1, "lora_dropout must be in [0, 1), got " + lora.dropout());
        String known = String.join(", ", LoraAdapters.TARGETS);
        require(lora.targets() != null && !lora.targets().isEmpty(), "lora_targets: give at least one projection (" + known + ")");
        for (String t : lora.targets()) {
            require(t != null && LoraAdapters.TARGETS.contains(t), "lora_targets: unknown projection \"" + t + "\" (" + known + ")");
        }
        require(lora.targets().stream().distinct().count() == lora.targets().size(), "lora_targets: " + lora.targets() + " lists a projection twice");
        // activation checkpointing recomputes the forward: a dropout mask drawn twice would differ
        require(prep.mode() != TrainMode.LORA || lora.dropout() == 0 || hw.gradCheckpointing() == 0,
                "lora_dropout > 0 does not combine with grad_checkpointing (the recomputed forward would draw other masks)");
        if (prep.mode().adaptive()) require(in.probe() != null, "mode " + prep.mode().label() + " refreshes unit importance on a probe corpus: give probe (--probe)");
    }

    /** lora_match as a parameter count; null for adept or none. */
    static Long loraMatchCount(String match) {
        if (match == null || match.strip().equalsIgnoreCase("adept")) return null;
        double v;
        try {
            v = Double.parseDouble(match.strip().replace("_", "").replace(",", ""));
        } catch (NumberFormatException e) {
            throw new TrainException("lora_match must be adept or a parameter count, got \"" + match + "\"");
        }
        if (!(v >= 1) || v > 1e15) throw new TrainException("lora_match must be adept or a parameter count >= 1, got " + match);
        return Math.round(v);
    }

    /** NaN or infinity in any numeric setting (a typo, a YAML .nan) is refused by name before any comparison could let it through. */
    private static void requireFinite(Record... groups) {
        for (Setting k : Setting.all()) {
            if (k.type() != double.class && k.type() != Double.class) continue;
            for (Record g : groups) {
                if (g.getClass() != k.group()) continue;
                Object v = k.valueInGroup(g);
                if (v != null && !Double.isFinite((Double) v)) throw new TrainException(k.key() + " must be a finite number, got " + v);
            }
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new TrainException(message);
    }
}
