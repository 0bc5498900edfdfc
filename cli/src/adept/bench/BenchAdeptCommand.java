package adept.bench;

import adept.report.ProgressBar;
import static adept.bench.BenchSupport.median;

import adept.expand.LayerExpansion;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.optim.SplitRateOptimizer;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import adept.tune.Granularity;
import adept.tune.RatePolicy;
import adept.tune.UnitRates;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * ADEPT stage 2 (adaptive unit-wise decoupled tuning) on a small expanded Llama through adept, against
 * the same work in PyTorch eager (tools/bench/stage2_reference.py on Debian's python3-torch, the same
 * libtorch), measured in the same run with interleaved rounds (which side goes first alternates) and
 * medians over all timed samples: the stage-2 training step, the optimizer step alone, and the
 * importance refresh against the training steps it stands for.
 */
@Command(name = "adept", mixinStandardHelpOptions = true,
        description = {"ADEPT stage 2 on a small Llama expanded by K identity copies (only the copies train, per-unit rates), "
                + "adept (Java) vs PyTorch eager (Python, torch.optim.AdamW with one param group per unit), same libtorch and "
                + "threads, measured in the same run with interleaved rounds.",
                "Targets: training step adept/PyTorch <= " + BenchAdeptCommand.TRAIN_TARGET
                        + "; optimizer step alone adept/PyTorch <= " + BenchAdeptCommand.OPT_TARGET
                        + " and split-rate/uniform-rate <= " + BenchAdeptCommand.UNIFORM_TARGET
                        + "; importance refresh / the training steps of as many tokens <= " + BenchAdeptCommand.REFRESH_TARGET + ".",
                "Needs Debian's python3-torch for /usr/bin/python3 (sudo apt-get install python3-torch, or tools/setup.sh --python)."})
public final class BenchAdeptCommand implements Callable<Integer> {
    static final double TRAIN_TARGET = 0.8;
    static final double OPT_TARGET = 1.0;
    static final double UNIFORM_TARGET = 1.2;
    static final double REFRESH_TARGET = 1.2;
    private static final String WHO = "adept bench adept";
    static final String[] PHASES = {"forward", "loss", "backward", "optimizer", "step"};
    static final String[] PY_SERIES = {"step", "forward", "loss", "backward", "optimizer", "opt_clip_false", "opt_step_false",
            "opt_clip_true", "opt_step_true", "refresh"};

    @Option(names = "--rounds", defaultValue = "5", description = "interleaved rounds, each: Java's measurements and Python's (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--steps", defaultValue = "3", description = "timed training steps per side per round (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--opt-steps", defaultValue = "10", description = "timed optimizer-only steps per variant per side per round (default: ${DEFAULT-VALUE})")
    int optSteps;

    @Option(names = "--refreshes", defaultValue = "1", description = "timed importance refreshes per side per round (default: ${DEFAULT-VALUE})")
    int refreshes;

    @Option(names = "--warmup", defaultValue = "2", description = "untimed training steps per side before the rounds (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--probe-batches", defaultValue = "4", description = "probe batches of --batch x --seq random tokens per refresh (default: ${DEFAULT-VALUE})")
    int probeBatches;

    @Option(names = "--copies", defaultValue = "2", description = "K: the top K layers get an identity copy (o/down zeroed); only the copies train (default: ${DEFAULT-VALUE})")
    int copies;

    @Option(names = "--granularity", defaultValue = "tensor", description = "units: tensor, head or neuron (default: ${DEFAULT-VALUE})")
    String granularity;

    @Option(names = "--lr", defaultValue = "1e-4", description = "base learning rate (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--seed", defaultValue = "1234", description = "model, data and random-importance seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--python-foreach", description = "PyTorch's training step with AdamW foreach=True; default foreach=False, torch 1.13's CPU default "
            + "(the optimizer-alone figures show both)")
    boolean pythonForeach;

    @Mixin
    ModelShape shape;

    @Mixin
    PythonReference.Options reference;

    private Granularity units;

    @Override
    public Integer call() throws Exception {
        try {
            return measure();
        } catch (PythonReference.SetupException e) {
            System.err.println(e.getMessage());
            return 2;
        }
    }

    private int measure() throws Exception {
        if (rounds < 1 || steps < 1 || optSteps < 1 || refreshes < 1 || warmup < 0 || shape.batch < 1 || shape.seq < 2 || probeBatches < 1) {
            System.err.println(WHO + ": --rounds, --steps, --opt-steps, --refreshes, --batch and --probe-batches must be >= 1, "
                    + "--seq >= 2, --warmup >= 0");
            return 2;
        }
        if (shape.hidden % shape.heads != 0 || shape.heads % shape.kvHeads != 0) {
            System.err.println(WHO + ": --hidden must be a multiple of --heads, --heads of --kv-heads");
            return 2;
        }
        if (copies < 1 || copies > shape.layers) {
            System.err.println(WHO + ": --copies must be in 1.." + shape.layers);
            return 2;
        }
        try {
            units = Granularity.parse(granularity);
        } catch (IllegalArgumentException e) {
            System.err.println(WHO + ": " + e.getMessage());
            return 2;
        }
        int threadCount = reference.threadCount();
        Path script = PythonReference.findScript(WHO, "stage2_reference.py");
        Torch.setNumThreads(threadCount);

        List<String> pyArgs = new ArrayList<>(List.of("--warmup", Integer.toString(warmup), "--batch", Integer.toString(shape.batch),
                "--seq", Integer.toString(shape.seq), "--vocab", Integer.toString(shape.vocab), "--hidden", Integer.toString(shape.hidden),
                "--intermediate", Integer.toString(shape.intermediate), "--layers", Integer.toString(shape.layers),
                "--heads", Integer.toString(shape.heads), "--kv-heads", Integer.toString(shape.kvHeads), "--copies", Integer.toString(copies),
                "--granularity", units.label(), "--probe-batches", Integer.toString(probeBatches),
                "--opt-steps", Integer.toString(optSteps), "--refreshes", Integer.toString(refreshes),
                "--lr", Double.toString(lr), "--seed", Long.toString(seed)));
        if (pythonForeach) pyArgs.add("--foreach");
        // The reference builds its model, warms up (training steps, optimizer steps, a refresh) before
        // answering "ready": nothing of ours runs meanwhile.
        System.err.println(WHO + ": starting the PyTorch reference (model, " + warmup + " warm-up steps, a refresh)...");
        List<Integer> sources = new ArrayList<>();
        for (int l = shape.layers - copies; l < shape.layers; l++) sources.add(l);
        try (PythonReference py = PythonReference.start(WHO, reference.python, script, threadCount, pyArgs);
             CausalLM model = CausalLM.random(shape.llama(), seed, 0.02, DType.FLOAT32, Device.CPU);
             Scope data = Scope.open()) {
            List<String> trainable = LayerExpansion.apply(model, LayerExpansion.explicit(shape.layers, sources));
            try (DecoupledTuning tuning = new DecoupledTuning(model, trainable, units, RatePolicy.CONTINUOUS, AdamW.factory(AdamWSettings.DEFAULT), true)) {
                Random random = new Random(seed);
                double[] importance = new double[tuning.units().size()];
                for (int u = 0; u < importance.length; u++) importance[u] = random.nextDouble();
                RatePolicy.Assignment rates = RatePolicy.CONTINUOUS.assign(importance);
                UnitRates.apply(tuning.optimizer(), tuning.units(), rates);
                Tensor ids = Tensor.of(randomIds(random, shape.batch * shape.seq), shape.batch, shape.seq);
                List<Batch> probe = new ArrayList<>();
                for (int b = 0; b < probeBatches; b++) probe.add(randomBatch(random));
                Bench bench = new Bench(model, tuning, rates, ids, probe);
                return run(bench, py, sources, threadCount);
            }
        }
    }

    private long[] randomIds(Random random, int n) {
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) ids[i] = random.nextInt(shape.vocab);
        return ids;
    }

    /** A probe batch of --batch rows of --seq random tokens (no padding; every position after the first is a target). */
    private Batch randomBatch(Random random) {
        List<Example> rows = new ArrayList<>();
        for (int r = 0; r < shape.batch; r++) {
            boolean[] targets = new boolean[shape.seq];
            Arrays.fill(targets, 1, shape.seq, true);
            rows.add(new Example(randomIds(random, shape.seq), targets, r));
        }
        return Batch.of(rows, 0, Device.CPU);
    }

    /** adept's side: the model, the tuning (optimizer and units), the random rates in force, the batches. */
    private record Bench(CausalLM model, DecoupledTuning tuning, RatePolicy.Assignment rates, Tensor ids, List<Batch> probe) {
        SplitRateOptimizer optimizer() {
            return tuning.optimizer();
        }
    }

    private int run(Bench b, PythonReference py, List<Integer> sources, int threadCount) throws IOException {
        System.err.println(WHO + ": adept warm-up (" + warmup + " steps, optimizer steps, a refresh)...");
        List<Double> javaLosses = new ArrayList<>();
        for (int i = 0; i < warmup; i++) javaLosses.add(step(b, null));
        optimizerSteps(b, 1, new ArrayList<>(), new ArrayList<>(), true);
        refresh(b);

        Map<String, List<Double>> java = BenchSupport.series(PHASES);
        List<Double> split = new ArrayList<>();
        List<Double> uniform = new ArrayList<>();
        List<Double> refresh = new ArrayList<>();
        Map<String, List<Double>> pyt = BenchSupport.series(PY_SERIES);
        List<Double> pyLosses = new ArrayList<>();
        double pyRss = Double.NaN;
        ProgressBar bar = new ProgressBar("  rounds", rounds);
        for (int round = 0; round < rounds; round++) {
            boolean javaFirst = round % 2 == 0;
            if (javaFirst) runJava(b, java, javaLosses, split, uniform, refresh, round);
            String answer = py.request(Integer.toString(steps));
            PythonReference.addNumbers(answer, pyt);
            pyLosses.addAll(PythonReference.numbers(answer, "loss_value"));
            pyRss = Double.parseDouble(PythonReference.value(answer, "peak_rss_mb"));
            if (!javaFirst) runJava(b, java, javaLosses, split, uniform, refresh, round);
            bar.step(String.format("step adept %.0f ms, PyTorch %.0f ms", median(java.get("step")), median(pyt.get("step"))));
        }
        bar.done();
        printReport(b, py, sources, java, split, uniform, refresh, pyt, javaLosses, pyLosses, pyRss);
        return 0;
    }

    private void runJava(Bench b, Map<String, List<Double>> java, List<Double> losses, List<Double> split, List<Double> uniform,
                         List<Double> refresh, int round) {
        for (int i = 0; i < steps; i++) losses.add(step(b, java));
        optimizerSteps(b, optSteps, split, uniform, round % 2 == 0);
        for (int i = 0; i < refreshes; i++) {
            long t0 = System.nanoTime();
            refresh(b);
            refresh.add((System.nanoTime() - t0) / 1e6);
        }
    }

    /** One stage-2 training step inside its own scope; phase times (ms) into times when not null. Returns the loss. */
    private double step(Bench b, Map<String, List<Double>> times) {
        long t0 = System.nanoTime();
        long t1, t2, t3, t4;
        double loss;
        try (Scope scope = Scope.open()) {
            // DecoupledTuning.loss, phase by phase
            Tensor hidden = b.model().hidden(b.ids(), null, b.tuning().firstRecordedLayer());
            t1 = System.nanoTime();
            Tensor l = b.model().headLoss(hidden, b.ids());  // final norm, LM head and loss in chunks, as DecoupledTuning.loss
            t2 = System.nanoTime();
            l.backward();
            t3 = System.nanoTime();
            b.tuning().step(lr);  // clipping, split-rate AdamW, zero_grad
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

    /**
     * n optimizer steps (clipping included) with the random per-unit rates, then n with every rate 1 (or the
     * other way round), over the gradients of one untimed backward; the random rates are put back after.
     */
    private void optimizerSteps(Bench b, int n, List<Double> split, List<Double> uniform, boolean splitFirst) {
        try (Scope scope = Scope.open()) {
            b.tuning().loss(b.ids()).backward();
        }
        SplitRateOptimizer adam = b.optimizer();
        for (int pass = 0; pass < 2; pass++) {
            boolean isSplit = (pass == 0) == splitFirst;
            if (isSplit) UnitRates.apply(adam, b.tuning().units(), b.rates());
            else adam.resetRates(1.0);
            List<Double> out = isSplit ? split : uniform;
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                adam.step(lr);
                out.add((System.nanoTime() - t0) / 1e6);
            }
        }
        UnitRates.apply(adam, b.tuning().units(), b.rates());
        adam.zeroGrad();
    }

    /** DecoupledTuning.refresh over the probe batches (importance, rates, multipliers written); the random rates put back after. */
    private static void refresh(Bench b) {
        b.tuning().refresh(b.probe(), 0);
        UnitRates.apply(b.optimizer(), b.tuning().units(), b.rates());
    }

    // ---- output ----

    private static String ms(List<Double> v) {
        return String.format("%.1f", median(v));
    }

    private static String spread(List<Double> v) {
        return v.isEmpty() ? "-" : BenchSupport.range(v, v.stream().mapToDouble(Double::doubleValue).max().orElse(0) >= 100 ? 0 : 2);
    }

    private static String verdict(double ratio, double target) {
        return (ratio <= target ? "PASS" : "MISS") + " (target <= " + target + ")";
    }

    private static List<Double> sum(List<Double> a, List<Double> b) {
        List<Double> out = new ArrayList<>();
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) out.add(a.get(i) + b.get(i));
        return out;
    }

    /** Ratio of every sample of a to the median of b: the spread of a ratio of medians. */
    private static String ratioSpread(List<Double> a, double b) {
        return String.format("%.3f..%.3f", BenchSupport.min(a) / b, BenchSupport.max(a) / b);
    }

    private void printReport(Bench b, PythonReference py, List<Integer> sources, Map<String, List<Double>> java, List<Double> split,
                             List<Double> uniform, List<Double> refresh, Map<String, List<Double>> pyt, List<Double> javaLosses,
                             List<Double> pyLosses, double pyRss) {
        ModelConfig c = b.model().config();
        String ready = py.ready;
        int unitCount = b.tuning().units().size();
        long distinct = Arrays.stream(b.rates().multipliers()).distinct().count();
        long trainTokens = (long) shape.batch * shape.seq;
        long probeTokens = (long) probeBatches * shape.batch * shape.seq;
        List<Integer> copyIndices = new ArrayList<>();
        for (int i = 0; i < sources.size(); i++) copyIndices.add(sources.get(i) + 1 + i);
        String groups = PythonReference.value(ready, "groups");
        boolean perUnitGroups = units == Granularity.TENSOR;

        System.out.println();
        System.out.printf("adept bench adept: %s vocab %d, hidden %d, %d layers + %d copies (of layers %s, now at %s, o/down zeroed) = %d, "
                        + "%d heads (%d kv, head_dim %d), intermediate %d, batch %d x seq %d, fp32, untied%n",
                c.architecture().className(), c.vocabSize(), c.hiddenSize(), shape.layers, copies, sources, copyIndices, c.numHiddenLayers(),
                c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim(), c.intermediateSize(), shape.batch, shape.seq);
        System.out.printf("  stage 2: only the copies train (%,d of %,d parameters; layers below %d run under no_grad); granularity %s: "
                        + "%d units, %d distinct rates (continuous mode from random importances, seed %d); AdamW lr %s x rate, "
                        + "wd 0.1 on matrices, clipping at 1.0%n",
                b.tuning().trainableParameters(), c.parameterCount(), b.tuning().firstRecordedLayer(), units.label(), unitCount, distinct,
                seed, lr);
        System.out.printf("  %d rounds per side, each: %d timed training steps, %d + %d optimizer-only steps, %d refresh(es) of %d probe "
                        + "batches (%,d tokens); after %d warm-up steps; sides alternate which goes first%n",
                rounds, steps, optSteps, optSteps, refreshes, probeBatches, probeTokens, warmup);
        System.out.printf("  adept:   %s; split-rate AdamW over one flat buffer, per-element rate multipliers%n", BenchSupport.adeptEnvironment());
        System.out.printf("  PyTorch: %s; torch.optim.AdamW, %s param groups (%s), training step foreach=%s%n", py.describe(), groups,
                perUnitGroups ? "one per unit" : "one per tensor: param groups cannot hold per-row rates, so its " + units.label()
                        + " units get per-tensor rates (its refresh still computes all " + PythonReference.value(ready, "units")
                        + " unit importances)",
                "true".equals(PythonReference.value(ready, "foreach")) ? "True (multi-tensor)" : "False (single-tensor, 1.13's CPU default)");
        System.out.println();

        // 1. training step
        String f = "%-34s %10s %14s %10s %14s %8s  %s%n";
        System.out.println("1. stage-2 training step (ms, medians; spread min..max)");
        System.out.printf(f, "phase", "adept", "spread", "PyTorch", "spread", "ratio", "");
        String[] labels = {"forward (lower layers no_grad)", "loss", "backward", "clip + AdamW + zero_grad", "step (total)"};
        for (int i = 0; i < PHASES.length; i++) {
            String p = PHASES[i];
            double j = median(java.get(p));
            double q = median(pyt.get(p));
            System.out.printf(f, labels[i], ms(java.get(p)), spread(java.get(p)), ms(pyt.get(p)), spread(pyt.get(p)),
                    String.format("%.3f", j / q), p.equals("step") ? verdict(j / q, TRAIN_TARGET) : "");
        }
        double jStep = median(java.get("step"));
        double pStep = median(pyt.get("step"));
        System.out.printf(f, "tokens/s (" + trainTokens + " per step)", String.format("%.0f", trainTokens / jStep * 1e3),
                String.format("%.0f..%.0f", trainTokens / BenchSupport.max(java.get("step")) * 1e3, trainTokens / BenchSupport.min(java.get("step")) * 1e3),
                String.format("%.0f", trainTokens / pStep * 1e3),
                String.format("%.0f..%.0f", trainTokens / BenchSupport.max(pyt.get("step")) * 1e3, trainTokens / BenchSupport.min(pyt.get("step")) * 1e3),
                "", "");
        System.out.printf("   loss first..last step: adept %s, PyTorch %s; peak RSS MiB: adept %.0f, PyTorch %.0f%n",
                lossRange(javaLosses), lossRange(pyLosses), BenchSupport.peakRssMb(), pyRss);
        System.out.println();

        // 2. optimizer step alone
        List<Double> pyFalse = sum(pyt.get("opt_clip_false"), pyt.get("opt_step_false"));
        List<Double> pyTrue = sum(pyt.get("opt_clip_true"), pyt.get("opt_step_true"));
        double s = median(split);
        String g = "%-44s %10s %14s %10s  %s%n";
        System.out.println("2. optimizer step alone, gradients already there, clipping at 1.0 included (ms, medians)");
        System.out.printf(g, "", "median", "spread", "adept/this", "");
        System.out.printf(g, "adept split-rate AdamW (" + unitCount + " unit rates)", ms(split), spread(split), "", "");
        System.out.printf(g, "adept uniform rate, same tensors", ms(uniform), spread(uniform), String.format("%.3f", s / median(uniform)),
                verdict(s / median(uniform), UNIFORM_TARGET));
        System.out.printf(g, "PyTorch clip + AdamW foreach=False, " + groups + " groups", ms(pyFalse), spread(pyFalse),
                String.format("%.3f", s / median(pyFalse)), verdict(s / median(pyFalse), OPT_TARGET));
        System.out.printf(g, "PyTorch clip + AdamW foreach=True, " + groups + " groups", ms(pyTrue), spread(pyTrue),
                String.format("%.3f", s / median(pyTrue)), verdict(s / median(pyTrue), OPT_TARGET));
        System.out.printf("   of which PyTorch clip_grad_norm_ %s / %s ms, opt.step() %s / %s ms (foreach False / True)%n",
                ms(pyt.get("opt_clip_false")), ms(pyt.get("opt_clip_true")), ms(pyt.get("opt_step_false")), ms(pyt.get("opt_step_true")));
        System.out.println();

        // 3. importance refresh
        double stepsWorth = (double) probeTokens / trainTokens;
        double jr = median(refresh);
        double pr = median(pyt.get("refresh"));
        double jCost = jr / (stepsWorth * jStep);
        double pCost = pr / (stepsWorth * pStep);
        System.out.printf("3. importance refresh over %,d probe tokens (%d batches of %d x %d) = %.2f training steps' tokens (ms, medians)%n",
                probeTokens, probeBatches, shape.batch, shape.seq, stepsWorth);
        String h = "%-44s %10s %14s %10s %14s%n";
        System.out.printf(h, "", "adept", "spread", "PyTorch", "spread");
        System.out.printf(h, "refresh", ms(refresh), spread(refresh), ms(pyt.get("refresh")), spread(pyt.get("refresh")));
        System.out.printf(h, String.format("%.2f x training step", stepsWorth), String.format("%.1f", stepsWorth * jStep), "",
                String.format("%.1f", stepsWorth * pStep), "");
        System.out.printf("%-44s %10s %14s %10s %14s  %s%n", "cost ratio refresh / (P/tokens x step)", String.format("%.3f", jCost),
                ratioSpread(refresh, stepsWorth * jStep), String.format("%.3f", pCost), ratioSpread(pyt.get("refresh"), stepsWorth * pStep),
                "adept " + verdict(jCost, REFRESH_TARGET));
        System.out.printf("   refresh adept/PyTorch %.3f%n", jr / pr);
        System.out.println();
        System.out.println("ratio = adept / PyTorch on medians over all timed samples; step (total) also counts loss.item() and freeing the "
                + "step's tensors. Refresh: probe losses and gradients into side buffers (adept: Autograd.grad, PyTorch: "
                + "torch.autograd.grad), |theta| * mean |g|, per-unit means, continuous rates, rates written into the optimizer.");
        System.out.println("adept's forward stops at the last layer: its loss phase is the final norm, LM head and cross-entropy "
                + "in chunks, with their gradients (CausalLM.headLoss); PyTorch's forward includes the LM head.");
    }

    private static String lossRange(List<Double> v) {
        return v.isEmpty() ? "-" : String.format("%.3f..%.3f", v.get(0), v.get(v.size() - 1));
    }
}
