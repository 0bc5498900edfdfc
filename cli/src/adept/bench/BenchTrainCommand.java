package adept.bench;

import adept.report.ProgressBar;
import static adept.bench.BenchSupport.max;
import static adept.bench.BenchSupport.median;
import static adept.bench.BenchSupport.min;
import static adept.bench.BenchSupport.range;

import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Time of one training step (forward, cross-entropy, backward, AdamW) of a small Llama through
 * adept, against the same step through PyTorch-Python (tools/bench/train_reference.py on
 * Debian's python3-torch, the same libtorch) measured in the same run: Java rounds and Python
 * rounds alternate (which side goes first alternates too), and the table shows medians over all
 * timed steps. Achieved FLOP/s is reported against an fp32 matmul measured in the same run.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"One training step (forward, cross-entropy, backward, AdamW) of a small Llama, adept (Java) vs PyTorch "
                + "eager (Python), same libtorch and threads, measured in the same run with interleaved rounds. "
                + "Target: adept's step time <= PyTorch's (ratio <= " + BenchTrainCommand.TARGET + ").",
                "Needs Debian's python3-torch for /usr/bin/python3 (sudo apt-get install python3-torch, or tools/setup.sh --python)."})
public final class BenchTrainCommand implements Callable<Integer> {
    static final double TARGET = 1.0;
    private static final String WHO = "adept bench train";
    static final String[] PHASES = {"forward", "loss", "backward", "optimizer", "step"};

    @Option(names = "--rounds", defaultValue = "3", description = "interleaved rounds, each: Java steps and Python steps (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--steps", defaultValue = "3", description = "timed training steps per side per round (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--warmup", defaultValue = "2", description = "untimed steps per side before the rounds (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--matmul-size", defaultValue = "2048", description = "N of the N x N x N fp32 matmul that measures the machine's throughput (default: ${DEFAULT-VALUE})")
    int matmulSize;

    @Option(names = "--python-foreach", description = "PyTorch AdamW with foreach=True (multi-tensor, as adept's); default foreach=False, torch 1.13's CPU default")
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

    /** Model FLOPs of one forward pass: 2 per multiply-add of every linear layer (lm_head included) and of attention's two matmuls. */
    static double forwardFlops(ModelConfig c, long batch, long seq) {
        long linear = 0;
        for (var e : c.tensorShapes().entrySet()) {
            long[] s = e.getValue();
            if (s.length == 2 && !e.getKey().equals("model.embed_tokens.weight")) linear += s[0] * s[1];
        }
        if (c.tieWordEmbeddings()) linear += (long) c.vocabSize() * c.hiddenSize();
        double tokens = (double) batch * seq;
        double attention = 2.0 * 2.0 * batch * c.numAttentionHeads() * (double) seq * seq * c.headDim() * c.numHiddenLayers();
        return 2.0 * tokens * linear + attention;
    }

    private int measure() throws Exception {
        if (rounds < 1 || steps < 1 || warmup < 0 || shape.batch < 1 || shape.seq < 2 || matmulSize < 1) {
            System.err.println(WHO + ": --rounds, --steps, --batch and --matmul-size must be >= 1, --seq >= 2, --warmup >= 0");
            return 2;
        }
        if (shape.hidden % shape.heads != 0) {
            System.err.println(WHO + ": --hidden must be a multiple of --heads");
            return 2;
        }
        ModelConfig config = shape.llama();
        int threadCount = reference.threadCount();
        Path script = PythonReference.findScript(WHO, "train_reference.py");
        Torch.setNumThreads(threadCount);
        double flops = 3 * forwardFlops(config, shape.batch, shape.seq);

        List<String> pyArgs = new ArrayList<>(List.of("--warmup", Integer.toString(warmup), "--batch", Integer.toString(shape.batch),
                "--seq", Integer.toString(shape.seq), "--vocab", Integer.toString(shape.vocab), "--hidden", Integer.toString(shape.hidden),
                "--intermediate", Integer.toString(shape.intermediate), "--layers", Integer.toString(shape.layers),
                "--heads", Integer.toString(shape.heads), "--kv-heads", Integer.toString(shape.kvHeads),
                "--matmul", Integer.toString(matmulSize)));
        if (pythonForeach) pyArgs.add("--foreach");
        // The reference builds its model, warms up and measures its matmul before answering
        // "ready": nothing of ours runs meanwhile.
        System.err.println(WHO + ": starting the PyTorch reference (model, " + warmup + " warm-up steps)...");
        try (PythonReference py = PythonReference.start(WHO, reference.python, script, threadCount, pyArgs);
             CausalLM model = CausalLM.random(config, 1234, 0.02, DType.FLOAT32, Device.CPU)) {
            model.requiresGrad(true);
            List<Tensor> params = new ArrayList<>(model.namedParameters().values());
            try (AdamW adam = AdamW.of(params, 0.1)) {
                Tensor ids;
                try (Scope scope = Scope.open()) {  // kept: closed below, never left to the fallback owner
                    ids = Tensor.randint(0, shape.vocab, DType.INT64, Device.CPU, shape.batch, shape.seq).keep();
                }
                try {
                    return run(config, model, adam, ids, py, flops, threadCount);
                } finally {
                    ids.close();
                }
            }
        }
    }

    private int run(ModelConfig config, CausalLM model, AdamW adam, Tensor ids, PythonReference py, double flops, int threadCount)
            throws IOException {
        System.err.println(WHO + ": adept warm-up (" + warmup + " steps), matmul...");
        List<Double> javaLosses = new ArrayList<>();
        for (int i = 0; i < warmup; i++) javaLosses.add(step(model, adam, ids, null));
        List<Double> matmul = new ArrayList<>(matmulGflops(matmulSize, 5));

        Map<String, List<Double>> java = BenchSupport.series(PHASES);
        Map<String, List<Double>> pyt = BenchSupport.series(PHASES);
        List<Double> pyLosses = new ArrayList<>();
        double pyRss = Double.NaN;
        ProgressBar bar = new ProgressBar("  rounds", rounds);
        for (int round = 0; round < rounds; round++) {
            boolean javaFirst = round % 2 == 0;
            if (javaFirst) runJava(model, adam, ids, java, javaLosses);
            String answer = py.request(Integer.toString(steps));
            PythonReference.addNumbers(answer, pyt);
            pyLosses.addAll(PythonReference.numbers(answer, "loss_value"));
            pyRss = Double.parseDouble(PythonReference.value(answer, "peak_rss_mb"));
            if (!javaFirst) runJava(model, adam, ids, java, javaLosses);
            bar.step(String.format("adept %.0f ms, PyTorch %.0f ms", median(java.get("step")),
                    median(pyt.get("step"))));
        }
        bar.done();
        matmul.addAll(matmulGflops(matmulSize, 5));

        printReport(config, model, py, flops, threadCount, java, pyt, javaLosses, pyLosses, matmul, pyRss);
        return 0;
    }

    private void runJava(CausalLM model, AdamW adam, Tensor ids, Map<String, List<Double>> java, List<Double> losses) {
        for (int i = 0; i < steps; i++) losses.add(step(model, adam, ids, java));
    }

    /** One training step inside its own scope; phase times (ms) go into times when not null. Returns the loss. */
    static double step(CausalLM model, AdamW adam, Tensor ids, Map<String, List<Double>> times) {
        long t0 = System.nanoTime();
        long t1, t2, t3, t4;
        double loss;
        try (Scope scope = Scope.open()) {
            Tensor hidden = model.hidden(ids, null);
            t1 = System.nanoTime();
            Tensor l = model.headLoss(hidden, ids);  // final norm, LM head and loss in chunks (and their gradients)
            t2 = System.nanoTime();
            l.backward();
            t3 = System.nanoTime();
            adam.step(1e-4);
            adam.zeroGrad();
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

    /** GFLOP/s of repeats N x N x N fp32 matmuls (after two untimed ones), one value per repeat. */
    static List<Double> matmulGflops(int n, int repeats) {
        List<Double> out = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            Tensor a = Tensor.randn(DType.FLOAT32, Device.CPU, n, n);
            Tensor b = Tensor.randn(DType.FLOAT32, Device.CPU, n, n);
            for (int i = 0; i < 2; i++) a.mm(b).close();
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                Tensor c = a.mm(b);
                long t = System.nanoTime() - t0;
                c.close();
                out.add(2.0 * n * n * (double) n / (t / 1e9) / 1e9);
            }
        }
        return out;
    }


    // ---- output ----

    private void printReport(ModelConfig c, CausalLM model, PythonReference py, double flops, int threadCount,
                             Map<String, List<Double>> java, Map<String, List<Double>> pyt, List<Double> javaLosses,
                             List<Double> pyLosses, List<Double> matmul, double pyRss) {
        String ready = py.ready;
        double pyMatmul = parse(PythonReference.value(ready, "matmul_gflops"));
        double machine = median(matmul);
        System.out.println();
        System.out.printf("adept bench train: %s vocab %d, hidden %d, %d layers, %d heads (%d kv, head_dim %d), intermediate %d, "
                        + "batch %d x seq %d, fp32, untied; AdamW lr 1e-4, wd 0.1 on all parameters%n",
                c.architecture().className(), c.vocabSize(), c.hiddenSize(), c.numHiddenLayers(), c.numAttentionHeads(),
                c.numKeyValueHeads(), c.headDim(), c.intermediateSize(), shape.batch, shape.seq);
        System.out.printf("  %,d parameters; model FLOPs per training step %.2f GFLOP (3 x forward %.2f GFLOP: linear layers incl. lm_head, "
                + "QK^T and PV)%n", c.parameterCount(), flops / 1e9, flops / 3e9);
        System.out.printf("  %d rounds x %d timed steps per side (after %d warm-up steps each), sides alternate which goes first%n",
                rounds, steps, warmup);
        System.out.printf("  adept:   %s; AdamW multi-tensor (_foreach)%n", BenchSupport.adeptEnvironment());
        System.out.printf("  PyTorch: %s; torch.optim.AdamW foreach=%s%n", py.describe(),
                "true".equals(PythonReference.value(ready, "foreach")) ? "True (multi-tensor)" : "False (single-tensor, 1.13's CPU default)");
        System.out.printf("  fp32 matmul %d^3: adept %.1f GFLOP/s (median of %d, %.1f..%.1f), PyTorch %.1f GFLOP/s (median of 5, at its start)%n",
                matmulSize, machine, matmul.size(), min(matmul), max(matmul), pyMatmul);
        System.out.println();

        String format = "%-12s %12s %12s %9s  %s%n";
        System.out.printf(format, "phase", "adept ms", "PyTorch ms", "ratio", "");
        for (String p : PHASES) {
            double j = median(java.get(p));
            double q = median(pyt.get(p));
            String verdict = p.equals("step") ? (j / q <= TARGET ? "PASS" : "MISS") + " (target <= " + TARGET + ")" : "";
            System.out.printf(format, p.equals("step") ? "step (total)" : p, String.format("%.1f", j), String.format("%.1f", q),
                    String.format("%.3f", j / q), verdict);
        }
        double jStep = median(java.get("step"));
        double pStep = median(pyt.get("step"));
        System.out.println();
        System.out.printf("%-34s %12s %12s%n", "", "adept", "PyTorch");
        System.out.printf("%-34s %12.1f %12.1f%n", "achieved GFLOP/s (model FLOPs)", flops / jStep / 1e6, flops / pStep / 1e6);
        System.out.printf("%-34s %11.1f%% %11.1f%%%n", "fraction of measured matmul", 100 * flops / jStep / 1e6 / machine,
                100 * flops / pStep / 1e6 / machine);
        System.out.printf("%-34s %12s %12s%n", "step spread ms (min..max)", range(java.get("step"), 0), range(pyt.get("step"), 0));
        System.out.printf("%-34s %12.0f %12.0f%n", "peak RSS MiB (VmHWM / ru_maxrss)", BenchSupport.peakRssMb(), pyRss);
        System.out.printf("%-34s %12s %12s%n", "loss first..last step", lossRange(javaLosses), lossRange(pyLosses));
        System.out.println("ratio = adept / PyTorch (medians over all timed steps); step (total) also counts loss.item() and freeing "
                + "the step's tensors; forward on the PyTorch side includes zero_grad(set_to_none=True).");
        System.out.println("adept's forward stops at the last layer: its loss phase is the final norm, LM head and cross-entropy "
                + "in chunks, with their gradients (CausalLM.headLoss); PyTorch's forward includes the LM head.");
        System.out.println("fraction = model FLOPs per step / step time / the median " + matmulSize + "^3 matmul GFLOP/s measured "
                + "through adept in this run (before and after the rounds).");
    }

    private static double parse(String s) {
        return s == null ? Double.NaN : Double.parseDouble(s);
    }

    private static String lossRange(List<Double> v) {
        return v.isEmpty() ? "-" : String.format("%.3f..%.3f", v.get(0), v.get(v.size() - 1));
    }
}
