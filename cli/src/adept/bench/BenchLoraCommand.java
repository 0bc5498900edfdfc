package adept.bench;

import static adept.bench.BenchSupport.median;

import adept.expand.LayerExpansion;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.optim.SplitRateOptimizer;
import adept.report.ProgressBar;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import adept.tune.Granularity;
import adept.tune.LoraAdapters;
import adept.tune.LoraSpec;
import adept.tune.RatePolicy;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The LoRA baseline's training step (mode lora: adapters on all seven projections of every layer, the base frozen)
 * on a small Llama through adept, against the same step in PyTorch eager (tools/bench/lora_reference.py on Debian's
 * python3-torch, the same libtorch), measured in the same run with interleaved rounds (which side goes first
 * alternates): the training step, round by round and over all samples, and the optimizer step alone.
 */
@Command(name = "lora", mixinStandardHelpOptions = true,
        description = {"Mode lora's training step on a small Llama (LoRA adapters on q/k/v/o/gate/up/down of every layer, base frozen, "
                + "AdamW over the adapters with clipping at 1.0), adept (Java, the trainer's DecoupledTuning path) vs PyTorch eager "
                + "(Python, PEFT-style LoraLinear modules, torch.optim.AdamW), same libtorch and threads, measured in the same run "
                + "with interleaved rounds.",
                "Target: training step adept/PyTorch <= " + BenchLoraCommand.TRAIN_TARGET + " (the median of the rounds' ratios).",
                "Needs Debian's python3-torch for /usr/bin/python3 (sudo apt-get install python3-torch, or tools/setup.sh --python)."})
public final class BenchLoraCommand implements Callable<Integer> {
    static final double TRAIN_TARGET = 1.1;
    private static final String WHO = "adept bench lora";
    static final String[] PHASES = {"forward", "loss", "backward", "optimizer", "step"};
    static final String[] PY_SERIES = {"step", "forward", "loss", "backward", "optimizer", "opt_clip_false", "opt_step_false",
            "opt_clip_true", "opt_step_true"};

    @Option(names = "--rounds", defaultValue = "5", description = "interleaved rounds, each: Java's measurements and Python's (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--steps", defaultValue = "3", description = "timed training steps per side per round (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--opt-steps", defaultValue = "10", description = "timed optimizer-only steps per variant per side per round (default: ${DEFAULT-VALUE})")
    int optSteps;

    @Option(names = "--warmup", defaultValue = "2", description = "untimed training steps per side before the rounds (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--rank", description = "adapter rank r (default: what lora_match adept picks, the rank closest to adept's K layer "
            + "copies at --expand-budget)")
    Integer rank;

    @Option(names = "--alpha", description = "lora_alpha: the adapters add (alpha / r) B A x (default: 2 * rank, lora mode's default)")
    Double alpha;

    @Option(names = "--expand-budget", defaultValue = "0.15", description = "expand_budget behind the default rank (default: ${DEFAULT-VALUE})")
    double expandBudget;

    @Option(names = "--lr", defaultValue = "1e-4", description = "learning rate, both sides (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--seed", defaultValue = "1234", description = "model, adapter and data seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--python-foreach", description = "PyTorch's training step with AdamW foreach=True; default foreach=False, torch 1.13's CPU default "
            + "(the optimizer-alone figures show both)")
    boolean pythonForeach;

    @Mixin
    ModelShape shape;

    @Mixin
    PythonReference.Options reference;

    @Override
    public Integer call() throws Exception {
        try {
            return measure();
        } catch (PythonReference.SetupException e) {
            System.err.println(e.getMessage());
            return 2;
        }
    }

    /** K, the layer copies mode adept would add within budget (lora_match adept without k or layers). */
    static int adeptK(ModelConfig config, double budget) {
        return LayerExpansion.kWithinBudget(config, budget);
    }

    /**
     * The rank lora_match adept picks on config (adapters on all seven projections): the one whose adapters' parameter
     * count is closest to adept's K layer copies at budget, as the trainer's LoraMode.rank computes it for a base model.
     */
    static int adeptRank(ModelConfig config, double budget) {
        int k = adeptK(config, budget);
        return LoraAdapters.matchRank(k * LayerExpansion.layerParameters(config), config, LoraAdapters.TARGETS,
                "adept's K=" + k + " layer copies (expand_budget " + budget + ")");
    }

    /**
     * Mode lora's trainer setup on model: spec's adapters attached with seed (A kaiming-uniform, B zero), then the
     * DecoupledTuning the trainer builds for it (tensor units, not adaptive: uniform rate; AdamW betas 0.9/0.999,
     * eps 1e-8, weight decay 0.1, clipping at 1.0: the training defaults). The caller closes it.
     */
    static DecoupledTuning loraTuning(CausalLM model, LoraSpec spec, long seed) {
        Map<String, Tensor> adapters = LoraAdapters.attach(model, spec, seed);
        return new DecoupledTuning(model, new ArrayList<>(adapters.keySet()), Granularity.TENSOR, RatePolicy.CONTINUOUS,
                AdamW.factory(AdamWSettings.DEFAULT), false);
    }

    private int measure() throws Exception {
        if (rounds < 1 || steps < 1 || optSteps < 1 || warmup < 0 || shape.batch < 1 || shape.seq < 2) {
            System.err.println(WHO + ": --rounds, --steps, --opt-steps and --batch must be >= 1, --seq >= 2, --warmup >= 0");
            return 2;
        }
        if (shape.hidden % shape.heads != 0 || shape.heads % shape.kvHeads != 0) {
            System.err.println(WHO + ": --hidden must be a multiple of --heads, --heads of --kv-heads");
            return 2;
        }
        ModelConfig config = shape.llama();
        LoraSpec spec;
        String rankWhy;
        try {
            int r = rank != null ? rank : adeptRank(config, expandBudget);
            spec = new LoraSpec(r, alpha != null ? alpha : 2.0 * r, 0, LoraAdapters.TARGETS);
            rankWhy = rank != null ? "--rank" : String.format(Locale.ROOT, "lora_match adept: closest to K=%d layer copies, %,d parameters, "
                    + "at expand_budget %s", adeptK(config, expandBudget), adeptK(config, expandBudget) * LayerExpansion.layerParameters(config),
                    expandBudget);
        } catch (IllegalArgumentException e) {
            System.err.println(WHO + ": " + e.getMessage());
            return 2;
        }
        int threadCount = reference.threadCount();
        Path script = PythonReference.findScript(WHO, "lora_reference.py");
        Torch.setNumThreads(threadCount);

        List<String> pyArgs = new ArrayList<>(List.of("--warmup", Integer.toString(warmup), "--batch", Integer.toString(shape.batch),
                "--seq", Integer.toString(shape.seq), "--vocab", Integer.toString(shape.vocab), "--hidden", Integer.toString(shape.hidden),
                "--intermediate", Integer.toString(shape.intermediate), "--layers", Integer.toString(shape.layers),
                "--heads", Integer.toString(shape.heads), "--kv-heads", Integer.toString(shape.kvHeads), "--rank", Integer.toString(spec.rank()),
                "--alpha", Double.toString(spec.alpha()), "--opt-steps", Integer.toString(optSteps),
                "--lr", Double.toString(lr), "--seed", Long.toString(seed)));
        if (pythonForeach) pyArgs.add("--foreach");
        // The reference builds its model, warms up before answering "ready": nothing of ours runs meanwhile.
        System.err.println(WHO + ": starting the PyTorch reference (model, rank " + spec.rank() + " adapters, " + warmup + " warm-up steps)...");
        try (PythonReference py = PythonReference.start(WHO, reference.python, script, threadCount, pyArgs);
             CausalLM model = CausalLM.random(config, seed, 0.02, DType.FLOAT32, Device.CPU);
             DecoupledTuning tuning = loraTuning(model, spec, seed);
             Scope data = Scope.open()) {
            Random random = new Random(seed);
            long[] ids = new long[shape.batch * shape.seq];
            for (int i = 0; i < ids.length; i++) ids[i] = random.nextInt(shape.vocab);
            Bench bench = new Bench(model, tuning, spec, rankWhy, Tensor.of(ids, shape.batch, shape.seq));
            return run(bench, py);
        }
    }

    /** adept's side: the model with its adapters, the trainer's tuning over them, the batch. */
    private record Bench(CausalLM model, DecoupledTuning tuning, LoraSpec spec, String rankWhy, Tensor ids) {}

    private int run(Bench b, PythonReference py) throws IOException {
        System.err.println(WHO + ": adept warm-up (" + warmup + " steps, an optimizer step)...");
        List<Double> javaLosses = new ArrayList<>();
        for (int i = 0; i < warmup; i++) javaLosses.add(step(b.model(), b.tuning(), b.ids(), lr, null));
        optimizerSteps(b, 1, new ArrayList<>());

        Map<String, List<Double>> java = BenchSupport.series(PHASES);
        List<Double> optimizer = new ArrayList<>();
        Map<String, List<Double>> pyt = BenchSupport.series(PY_SERIES);
        List<Double> pyLosses = new ArrayList<>();
        List<double[]> perRound = new ArrayList<>();  // {adept median, PyTorch median} of each round's steps
        double pyRss = Double.NaN;
        ProgressBar bar = new ProgressBar("  rounds", rounds);
        for (int round = 0; round < rounds; round++) {
            boolean javaFirst = round % 2 == 0;
            int before = java.get("step").size();
            if (javaFirst) runJava(b, java, javaLosses, optimizer);
            String answer = py.request(Integer.toString(steps));
            List<Double> pySteps = PythonReference.numbers(answer, "step");
            PythonReference.addNumbers(answer, pyt);
            pyLosses.addAll(PythonReference.numbers(answer, "loss_value"));
            pyRss = Double.parseDouble(PythonReference.value(answer, "peak_rss_mb"));
            if (!javaFirst) runJava(b, java, javaLosses, optimizer);
            List<Double> javaSteps = java.get("step").subList(before, java.get("step").size());
            perRound.add(new double[] {median(javaSteps), median(pySteps)});
            bar.step(String.format("step adept %.0f ms, PyTorch %.0f ms", median(java.get("step")), median(pyt.get("step"))));
        }
        bar.done();
        printReport(b, py, java, optimizer, pyt, perRound, javaLosses, pyLosses, pyRss);
        return 0;
    }

    private void runJava(Bench b, Map<String, List<Double>> java, List<Double> losses, List<Double> optimizer) {
        for (int i = 0; i < steps; i++) losses.add(step(b.model(), b.tuning(), b.ids(), lr, java));
        optimizerSteps(b, optSteps, optimizer);
    }

    /**
     * One LoRA training step as the trainer takes it, inside its own scope: DecoupledTuning.accumulate's work (forward
     * with autograd from the first adapter's layer, loss, backward into the adapters) phase by phase, then
     * DecoupledTuning.step (clipping, AdamW over the adapters, zero_grad), then the loss read back. Phase times (ms)
     * into times when not null. Returns the loss.
     */
    static double step(CausalLM model, DecoupledTuning tuning, Tensor ids, double lr, Map<String, List<Double>> times) {
        long t0 = System.nanoTime();
        long t1, t2, t3, t4;
        double loss;
        try (Scope scope = Scope.open()) {
            Tensor logits = model.head(model.hidden(ids, null, tuning.firstRecordedLayer()));
            t1 = System.nanoTime();
            Tensor l = CausalLM.loss(logits, ids);
            t2 = System.nanoTime();
            l.backward();
            t3 = System.nanoTime();
            tuning.step(lr);
            t4 = System.nanoTime();
            loss = l.item();
        }
        long t5 = System.nanoTime();
        if (times != null) {
            times.get("forward").add((t1 - t0) / 1e6);
            times.get("loss").add((t2 - t1) / 1e6);
            times.get("backward").add((t3 - t2) / 1e6);
            times.get("optimizer").add((t4 - t3) / 1e6);
            times.get("step").add((t5 - t0) / 1e6);
        }
        return loss;
    }

    /** n optimizer steps (clipping included) over the gradients of one untimed backward, then zero_grad. */
    private void optimizerSteps(Bench b, int n, List<Double> out) {
        try (Scope scope = Scope.open()) {
            b.tuning().loss(b.ids()).backward();
        }
        SplitRateOptimizer adam = b.tuning().optimizer();
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            adam.step(lr);
            out.add((System.nanoTime() - t0) / 1e6);
        }
        adam.zeroGrad();
    }

    // ---- output ----

    private static String ms(List<Double> v) {
        return String.format("%.1f", median(v));
    }

    private static String spread(List<Double> v) {
        return v.isEmpty() ? "-" : BenchSupport.range(v, BenchSupport.max(v) >= 100 ? 0 : 2);
    }

    private static String verdict(double ratio, double target) {
        return (ratio <= target ? "PASS" : "MISS") + " (target <= " + target + ")";
    }

    private static List<Double> sum(List<Double> a, List<Double> b) {
        List<Double> out = new ArrayList<>();
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) out.add(a.get(i) + b.get(i));
        return out;
    }

    private void printReport(Bench b, PythonReference py, Map<String, List<Double>> java, List<Double> optimizer,
                             Map<String, List<Double>> pyt, List<double[]> perRound, List<Double> javaLosses, List<Double> pyLosses,
                             double pyRss) {
        ModelConfig c = b.model().config();
        String ready = py.ready;
        long trainTokens = (long) shape.batch * shape.seq;
        int adapterCount = b.tuning().trainable().size();
        long trainable = b.tuning().trainableParameters();
        String pyAdapters = PythonReference.value(ready, "adapters");
        String pyTrainable = PythonReference.value(ready, "trainable");
        boolean same = Integer.toString(adapterCount).equals(pyAdapters) && Long.toString(trainable).equals(pyTrainable);

        System.out.println();
        System.out.printf("adept bench lora: %s vocab %d, hidden %d, %d layers, %d heads (%d kv, head_dim %d), intermediate %d, "
                        + "batch %d x seq %d, fp32, untied%n",
                c.architecture().className(), c.vocabSize(), c.hiddenSize(), c.numHiddenLayers(), c.numAttentionHeads(),
                c.numKeyValueHeads(), c.headDim(), c.intermediateSize(), shape.batch, shape.seq);
        System.out.printf("  LoRA r=%d (%s), alpha %s (scale %.4g), no dropout, on %s of all %d layers: %d adapter tensors, %,d trainable "
                        + "of %,d base parameters (frozen); AdamW lr %s, betas 0.9/0.999, eps 1e-8, wd 0.1 on every adapter, clipping at 1.0%n",
                b.spec().rank(), b.rankWhy(), b.spec().alpha(), b.spec().scale(), String.join(", ", b.spec().targets()), c.numHiddenLayers(),
                adapterCount, trainable, c.parameterCount(), lr);
        System.out.printf("  %d rounds per side, each: %d timed training steps, %d optimizer-only steps per variant; after %d warm-up steps; "
                + "sides alternate which goes first%n", rounds, steps, optSteps, warmup);
        System.out.printf("  adept:   %s; the trainer's path (DecoupledTuning over the adapters, uniform rate), AdamW over one flat buffer%n",
                BenchSupport.adeptEnvironment());
        System.out.printf("  PyTorch: %s; PEFT-style LoraLinear modules, %s adapter tensors, %s trainable%s; torch.optim.AdamW, one param group, "
                        + "training step foreach=%s%n", py.describe(), pyAdapters, pyTrainable, same ? " (the same)" : " (NOT the same as adept's)",
                "true".equals(PythonReference.value(ready, "foreach")) ? "True (multi-tensor)" : "False (single-tensor, 1.13's CPU default)");
        System.out.println();

        // 1. training step, round by round
        System.out.println("1. LoRA training step, round by round (ms, medians of each round's " + steps + " steps)");
        String r = "%-8s %-14s %10s %10s %8s%n";
        System.out.printf(r, "round", "first", "adept", "PyTorch", "ratio");
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i < perRound.size(); i++) {
            double[] p = perRound.get(i);
            ratios.add(p[0] / p[1]);
            System.out.printf(r, Integer.toString(i + 1), i % 2 == 0 ? "adept" : "PyTorch", String.format("%.1f", p[0]),
                    String.format("%.1f", p[1]), String.format("%.3f", p[0] / p[1]));
        }
        double roundRatio = median(ratios);
        System.out.printf("   ratio adept/PyTorch: median of rounds %.3f, spread %s  %s%n", roundRatio, BenchSupport.range(ratios, 3),
                verdict(roundRatio, TRAIN_TARGET));
        System.out.println();

        // 2. phases over all samples
        String f = "%-34s %10s %14s %10s %14s %8s%n";
        System.out.println("2. LoRA training step by phase, all rounds (ms, medians; spread min..max)");
        System.out.printf(f, "phase", "adept", "spread", "PyTorch", "spread", "ratio");
        String[] labels = {"forward (base frozen)", "loss", "backward (into the adapters)", "clip + AdamW + zero_grad", "step (total)"};
        for (int i = 0; i < PHASES.length; i++) {
            String p = PHASES[i];
            System.out.printf(f, labels[i], ms(java.get(p)), spread(java.get(p)), ms(pyt.get(p)), spread(pyt.get(p)),
                    String.format("%.3f", median(java.get(p)) / median(pyt.get(p))));
        }
        double jStep = median(java.get("step"));
        double pStep = median(pyt.get("step"));
        System.out.printf(f, "tokens/s (" + trainTokens + " per step)", String.format("%.0f", trainTokens / jStep * 1e3),
                String.format("%.0f..%.0f", trainTokens / BenchSupport.max(java.get("step")) * 1e3, trainTokens / BenchSupport.min(java.get("step")) * 1e3),
                String.format("%.0f", trainTokens / pStep * 1e3),
                String.format("%.0f..%.0f", trainTokens / BenchSupport.max(pyt.get("step")) * 1e3, trainTokens / BenchSupport.min(pyt.get("step")) * 1e3),
                "");
        System.out.printf("   loss first..last step: adept %s, PyTorch %s; peak RSS MiB (VmHWM / ru_maxrss): adept %.0f, PyTorch %.0f%n",
                lossRange(javaLosses), lossRange(pyLosses), BenchSupport.peakRssMb(), pyRss);
        System.out.println();

        // 3. optimizer step alone
        List<Double> pyFalse = sum(pyt.get("opt_clip_false"), pyt.get("opt_step_false"));
        List<Double> pyTrue = sum(pyt.get("opt_clip_true"), pyt.get("opt_step_true"));
        double s = median(optimizer);
        String g = "%-44s %10s %14s %10s%n";
        System.out.println("3. optimizer step alone over the " + adapterCount + " adapter tensors, gradients already there, clipping at 1.0 included "
                + "(ms, medians)");
        System.out.printf(g, "", "median", "spread", "adept/this");
        System.out.printf(g, "adept AdamW (flat buffer)", ms(optimizer), spread(optimizer), "");
        System.out.printf(g, "PyTorch clip + AdamW foreach=False", ms(pyFalse), spread(pyFalse), String.format("%.3f", s / median(pyFalse)));
        System.out.printf(g, "PyTorch clip + AdamW foreach=True", ms(pyTrue), spread(pyTrue), String.format("%.3f", s / median(pyTrue)));
        System.out.printf("   of which PyTorch clip_grad_norm_ %s / %s ms, opt.step() %s / %s ms (foreach False / True)%n",
                ms(pyt.get("opt_clip_false")), ms(pyt.get("opt_clip_true")), ms(pyt.get("opt_step_false")), ms(pyt.get("opt_step_true")));
        System.out.println();
        System.out.println("ratio = adept / PyTorch; a round's ratio compares the medians of its steps on both sides (taken back to back), "
                + "the target applies to the median of the rounds' ratios. step (total) also counts loss.item() and freeing the step's "
                + "tensors. The two sides' models are random with the same shapes and init, not the same values.");
    }

    private static String lossRange(List<Double> v) {
        return v.isEmpty() ? "-" : String.format("%.3f..%.3f", v.get(0), v.get(v.size() - 1));
    }
}
