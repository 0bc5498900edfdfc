package adept.bench;

import adept.eval.Perplexity;
import adept.expand.LayerExpansion;
import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.SaveOptions;
import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.probe.LayerProbe;
import adept.tensor.CpuCache;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import adept.tune.Granularity;
import adept.tune.RatePolicy;
import adept.tune.UnitRates;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Peak resident memory of each phase of an ADEPT run (load, probe, expand, full training steps, stage-2 steps,
 * importance refresh, checkpoint save, evaluation), adept against PyTorch eager doing the same phase
 * (tools/bench/memory_reference.py). Every phase runs in a fresh process of its own, on each side: the process sets
 * up what the phase needs, resets the kernel's peak mark (5 into /proc/self/clear_refs: VmHWM restarts at the
 * current VmRSS), runs the phase and reports VmRSS before and VmHWM after, so a phase's peak is not hidden by an
 * earlier one's and allocator state does not carry over.
 */
@Command(name = "memory", mixinStandardHelpOptions = true,
        description = {"Peak resident memory per phase (load, probe, expand, train, stage2, refresh, save, eval), adept (Java) vs "
                + "PyTorch eager (Python), each phase in a fresh process on each side.",
                "Needs Debian's python3-torch for /usr/bin/python3 (sudo apt-get install python3-torch, or tools/setup.sh --python)."})
public final class BenchMemoryCommand implements Callable<Integer> {
    private static final String WHO = "adept bench memory";
    static final List<String> PHASES = List.of("load", "probe", "expand", "train", "stage2", "refresh", "save", "eval");

    @Option(names = "--phases", split = ",", description = "phases to measure, comma-separated (default: all of load,probe,expand,train,stage2,refresh,save,eval)")
    List<String> phases;

    @Option(names = "--copies", defaultValue = "2", description = "K: identity copies of the top K layers for expand, stage2 and refresh (default: ${DEFAULT-VALUE})")
    int copies;

    @Option(names = "--probe-batches", defaultValue = "2", description = "batches of --batch x --seq random tokens for probe, refresh and eval (default: ${DEFAULT-VALUE})")
    int probeBatches;

    @Option(names = "--plain-loss", description = "train and stage2 through the plain loss (full logits) instead of the chunked one: the before of the chunked loss")
    boolean plainLoss;

    @Option(names = "--glibc-tunables", description = "GLIBC_TUNABLES for both sides' processes (\"\" to unset); default: as inherited")
    String glibcTunables;

    @Option(names = "--no-python", description = "adept's side only")
    boolean noPython;

    @Option(names = "--phase", hidden = true, description = "run one phase in this process and print its JSON line (the child side)")
    String phase;

    @Option(names = "--checkpoint", hidden = true, description = "the load phase's model folder")
    Path checkpoint;

    @Mixin
    ModelShape shape;

    @Mixin
    PythonReference.Options reference;

    private final long seed = 1234;

    @Override
    public Integer call() throws Exception {
        List<String> chosen = phases == null ? PHASES : phases;
        for (String p : chosen) {
            if (!PHASES.contains(p)) {
                System.err.println(WHO + ": unknown phase '" + p + "' in --phases; phases: " + String.join(",", PHASES));
                return 2;
            }
        }
        if (shape.hidden % shape.heads != 0 || shape.heads % shape.kvHeads != 0 || copies < 1 || copies > shape.layers
                || probeBatches < 1 || shape.batch < 1 || shape.seq < 2) {
            System.err.println(WHO + ": --hidden must be a multiple of --heads, --heads of --kv-heads; --copies in 1..--layers; "
                    + "--probe-batches and --batch >= 1, --seq >= 2");
            return 2;
        }
        if (phase != null) return child();
        try {
            return parent(chosen);
        } catch (PythonReference.SetupException e) {
            System.err.println(e.getMessage());
            return 2;
        }
    }

    // ---- the parent: a child per phase and side, then the table ----

    private List<String> shapeArgs() {
        return List.of("--batch", "" + shape.batch, "--seq", "" + shape.seq, "--vocab", "" + shape.vocab, "--hidden", "" + shape.hidden,
                "--intermediate", "" + shape.intermediate, "--layers", "" + shape.layers, "--heads", "" + shape.heads,
                "--kv-heads", "" + shape.kvHeads, "--copies", "" + copies, "--probe-batches", "" + probeBatches,
                "--threads", "" + reference.threadCount());
    }

    private int parent(List<String> chosen) throws Exception {
        Path script = noPython ? null : PythonReference.findScript(WHO, "memory_reference.py");
        Path dir = Files.createTempDirectory("adept-bench-memory");
        try {
            if (chosen.contains("load")) {
                System.err.println(WHO + ": writing the load phase's random model...");
                try (CausalLM model = CausalLM.random(shape.llama(), seed, 0.02, DType.FLOAT32, Device.CPU)) {
                    Checkpoint.save(model, dir.resolve("model"), SaveOptions.defaults());
                }
            }
            List<String[]> rows = new ArrayList<>();
            for (String p : chosen) {
                System.err.println(WHO + ": " + p + "...");
                List<String> java = new ArrayList<>(javaCommand());
                java.addAll(List.of("bench", "memory", "--phase", p, "--checkpoint", dir.resolve("model").toString()));
                java.addAll(shapeArgs());
                if (plainLoss) java.add("--plain-loss");
                String j = runChild(java);
                String py = null;
                if (script != null) {
                    List<String> command = new ArrayList<>(List.of(reference.python, script.toString(), "--phase", p,
                            "--checkpoint", dir.resolve("model").toString()));
                    command.addAll(shapeArgs());
                    py = runChild(command);
                }
                rows.add(row(p, j, py));
            }
            print(rows);
            return 0;
        } finally {
            try (Stream<Path> walk = Files.walk(dir)) {
                for (Path f : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    /** This JVM's launcher, options and class path, and the CLI's main class. */
    private static List<String> javaCommand() {
        List<String> out = new ArrayList<>();
        out.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        out.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        out.add("-cp");
        out.add(System.getProperty("java.class.path"));
        out.add("adept.cli.AdeptCommand");
        return out;
    }

    /** Runs a child with the shared environment; returns its last stdout line, which must be a JSON object. */
    private String runChild(List<String> command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().put("OPENBLAS_NUM_THREADS", Integer.toString(reference.threadCount()));
        if (glibcTunables != null) {
            if (glibcTunables.isEmpty()) pb.environment().remove("GLIBC_TUNABLES");
            else pb.environment().put("GLIBC_TUNABLES", glibcTunables);
        }
        PythonReference.putMallocEnv(pb.environment());  // the shim's mallopt values; Python gets them this way
        pb.redirectErrorStream(true);
        Process process = pb.start();
        List<String> lines = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = out.readLine()) != null; ) lines.add(line);
        }
        int code = process.waitFor();
        String last = lines.isEmpty() ? "" : lines.get(lines.size() - 1);
        if (code != 0 || !last.startsWith("{")) {
            throw new PythonReference.SetupException(WHO + ": " + command.get(0) + " --phase failed (exit " + code + "):\n"
                    + String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size())));
        }
        return last;
    }

    private static String[] row(String phase, String java, String py) {
        double jBase = Double.parseDouble(PythonReference.value(java, "baseline_mb"));
        double jPeak = Double.parseDouble(PythonReference.value(java, "peak_mb"));
        double pBase = py == null ? Double.NaN : Double.parseDouble(PythonReference.value(py, "baseline_mb"));
        double pPeak = py == null ? Double.NaN : Double.parseDouble(PythonReference.value(py, "peak_mb"));
        boolean reset = "true".equals(PythonReference.value(java, "reset")) && (py == null || "true".equals(PythonReference.value(py, "reset")));
        return new String[] {phase + (reset ? "" : " *"), f(jBase), f(jPeak), f(jPeak - jBase), cache(java), mallocFree(java), faults(java),
                PythonReference.value(java, "heap_peak_mb"), PythonReference.value(java, "live_tensors"), f(pBase), f(pPeak), f(pPeak - pBase),
                py == null ? "-" : mallocFree(py), py == null ? "-" : faults(py), String.format("%.2f", jPeak / pPeak),
                String.format("%.2f", (jPeak - jBase) / (pPeak - pBase))};
    }

    /** "in use/mapped" peak MiB of adept's CPU block cache during the phase, "off" where ADEPT_CPU_ALLOCATOR=malloc. */
    private static String cache(String json) {
        if (!"true".equals(PythonReference.value(json, "cache_enabled"))) return "off";
        return f(Double.parseDouble(PythonReference.value(json, "cache_use_peak_mb"))) + "/"
                + f(Double.parseDouble(PythonReference.value(json, "cache_mapped_peak_mb")));
    }

    /** The phase's minor page faults in thousands, "-" where the side did not report them. */
    private static String faults(String json) {
        String n = PythonReference.value(json, "minor_faults");
        return n == null || n.startsWith("-") ? "-" : f(Long.parseLong(n) / 1000.0);
    }

    /** "free/heap (chunks)" of malloc's account at the phase's end, "-" where the side could not read it. */
    private static String mallocFree(String json) {
        String heap = PythonReference.value(json, "malloc_heap_mb");
        String free = PythonReference.value(json, "malloc_free_mb");
        if (heap == null || free == null) return "-";
        return f(Double.parseDouble(free)) + "/" + f(Double.parseDouble(heap)) + " (" + PythonReference.value(json, "malloc_free_chunks") + ")";
    }

    private static String f(double v) {
        return Double.isNaN(v) ? "-" : String.format("%.0f", v);
    }

    private void print(List<String[]> rows) {
        ModelConfig c = shape.llama();
        System.out.println();
        System.out.printf("adept bench memory: Llama vocab %d, hidden %d, %d layers (+%d copies for stage2/refresh), intermediate %d, "
                        + "%d heads (%d kv), fp32, untied, %,d parameters (%.0f MiB); batch %d x seq %d, %d probe batches%s%n",
                c.vocabSize(), c.hiddenSize(), c.numHiddenLayers(), copies, c.intermediateSize(), c.numAttentionHeads(),
                c.numKeyValueHeads(), c.parameterCount(), c.parameterCount() * 4 / 1048576.0, shape.batch, shape.seq, probeBatches,
                plainLoss ? "; train/stage2 through the plain loss (--plain-loss)" : "");
        System.out.printf("  threads %d, GLIBC_TUNABLES=%s; mmap/trim thresholds the shim's 32 MiB / 512 MiB (MALLOC_*_ for Python) "
                        + "unless GLIBC_TUNABLES sets them%n",
                reference.threadCount(), glibcTunables != null ? (glibcTunables.isEmpty() ? "(unset)" : glibcTunables)
                        : String.valueOf(System.getenv("GLIBC_TUNABLES")));
        String format = "%-9s %9s %9s %9s %11s %17s %7s %9s %7s | %9s %9s %9s %17s %7s | %6s %6s%n";
        System.out.printf(format, "phase", "adept", "adept", "adept", "adept cache", "adept malloc", "adept", "JVM heap", "live", "PyTorch", "PyTorch",
                "PyTorch", "PyTorch malloc", "PyTorch", "peak", "delta");
        System.out.printf(format, "", "base MiB", "peak MiB", "delta", "use/mapped", "free/heap (chunks)", "faults", "peak MiB", "tensors", "base MiB",
                "peak MiB", "delta", "free/heap (chunks)", "faults", "ratio", "ratio");
        for (String[] r : rows) System.out.printf(format, (Object[]) r);
        System.out.println("base = VmRSS after the phase's set-up (model, optimizer, data); peak = VmHWM after the phase, the mark reset "
                + "at base (* where /proc/self/clear_refs could not be written: peak then includes the set-up); delta = peak - base.");
        System.out.println("live tensors: adept's native tensors alive after the phase; JVM heap peak: the heap pools' peak use during it.");
        System.out.println("cache use/mapped: peak MiB of tensors >= 256 KiB in adept's CPU block cache during the phase, and of the blocks "
                + "it mapped (in use + kept for reuse); off under ADEPT_CPU_ALLOCATOR=malloc.");
        System.out.println("malloc free/heap (chunks): glibc's account at the phase's end (mallinfo2, all arenas): MiB in free chunks it keeps "
                + "/ MiB of heap, and how many free chunks; heap not returned to the system counts in the peak.");
        System.out.println("faults: minor page faults during the phase, thousands: the cost of mapping and unmapping buffers (a count, "
                + "unlike times not changed by other load).");
    }

    // ---- the child: one phase in this process ----

    private List<Example> examples(Random random) {
        List<Example> rows = new ArrayList<>();
        for (int r = 0; r < shape.batch * probeBatches; r++) {
            long[] ids = new long[shape.seq];
            for (int i = 0; i < ids.length; i++) ids[i] = random.nextInt(shape.vocab);
            boolean[] targets = new boolean[shape.seq];
            Arrays.fill(targets, 1, shape.seq, true);
            rows.add(new Example(ids, targets, r));
        }
        return rows;
    }

    private List<Batch> batches(List<Example> examples) {
        List<Batch> out = new ArrayList<>();
        for (int b = 0; b < probeBatches; b++) out.add(Batch.of(examples.subList(b * shape.batch, (b + 1) * shape.batch), 0, Device.CPU));
        return out;
    }

    private int child() throws IOException {
        if (!PHASES.contains(phase)) {
            System.err.println(WHO + ": unknown --phase " + phase);
            return 2;
        }
        Torch.setNumThreads(reference.threadCount());
        Random random = new Random(seed);
        List<Integer> sources = new ArrayList<>();
        for (int l = shape.layers - copies; l < shape.layers; l++) sources.add(l);
        Path saveDir = Files.createTempDirectory("adept-bench-memory-save");
        try (Scope data = Scope.open()) {
            CausalLM model = phase.equals("load") ? null : CausalLM.random(shape.llama(), seed, 0.02, DType.FLOAT32, Device.CPU);
            List<Example> examples = examples(random);
            List<Batch> probe = batches(examples);
            Tensor ids = probe.get(0).inputIds();
            AdamW adam = null;
            DecoupledTuning tuning = null;
            if (phase.equals("train")) {
                model.requiresGrad(true);
                adam = AdamW.of(new ArrayList<>(model.namedParameters().values()), 0.1);
            }
            if (phase.equals("stage2") || phase.equals("refresh")) {
                List<String> trainable = LayerExpansion.apply(model, LayerExpansion.explicit(shape.layers, sources));
                tuning = new DecoupledTuning(model, trainable, Granularity.TENSOR, RatePolicy.CONTINUOUS, AdamW.factory(AdamWSettings.DEFAULT), true);
                double[] importance = new double[tuning.units().size()];
                for (int u = 0; u < importance.length; u++) importance[u] = random.nextDouble();
                UnitRates.apply(tuning.optimizer(), tuning.units(), RatePolicy.CONTINUOUS.assign(importance));
            }
            System.gc();
            CpuCache.release();  // the set-up's freed blocks go back and the cache's peaks restart: the peak is the phase's own
            double baseline = status("VmRSS");
            boolean reset = resetPeak();
            List<MemoryPoolMXBean> heap = ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP).toList();
            heap.forEach(MemoryPoolMXBean::resetPeakUsage);
            long faults = minorFaults();

            switch (phase) {
                case "load" -> model = Checkpoint.load(checkpoint, DType.FLOAT32, Device.CPU);
                case "probe" -> new LayerProbe(model).probe(probe, null);
                case "expand" -> LayerExpansion.apply(model, LayerExpansion.explicit(shape.layers, sources));
                case "train" -> {
                    for (int s = 0; s < 2; s++) {
                        try (Scope step = Scope.open()) {
                            Tensor loss = plainLoss ? CausalLM.loss(model.forward(ids, null), ids) : model.headLoss(model.hidden(ids, null), ids);
                            loss.backward();
                            adam.step(1e-4);
                            adam.zeroGrad();
                            loss.item();
                        }
                    }
                }
                case "stage2" -> {
                    for (int s = 0; s < 2; s++) {
                        try (Scope step = Scope.open()) {
                            Tensor hidden = model.hidden(ids, null, tuning.firstRecordedLayer());
                            Tensor loss = plainLoss ? CausalLM.loss(model.head(hidden), ids) : model.headLoss(hidden, ids);
                            loss.backward();
                            tuning.step(1e-4);
                            loss.item();
                        }
                    }
                }
                case "refresh" -> tuning.refresh(probe, 0);
                case "save" -> Checkpoint.save(model, saveDir.resolve("model"), SaveOptions.defaults());
                case "eval" -> Perplexity.evaluate(model, examples, shape.batch, 0, null);
                default -> throw new IllegalStateException(phase);
            }
            double peak = status("VmHWM");
            faults = minorFaults() - faults;
            double heapPeak = heap.stream().mapToLong(p -> p.getPeakUsage().getUsed()).sum() / 1048576.0;
            long live = Torch.liveTensors();
            CpuCache.Stats cache = CpuCache.stats();
            String cached = String.format(Locale.ROOT, ", \"cache_enabled\": %s, \"cache_use_peak_mb\": %.1f, \"cache_mapped_peak_mb\": %.1f",
                    cache.enabled(), cache.peakBytesInUse() / 1048576.0, cache.peakBytesMapped() / 1048576.0);
            String malloc = cached + MallocInfo.read().map(m -> String.format(Locale.ROOT,
                    ", \"malloc_heap_mb\": %.1f, \"malloc_free_mb\": %.1f, \"malloc_free_chunks\": %d, \"malloc_mapped_mb\": %.1f",
                    m.heapBytes() / 1048576.0, m.freeBytes() / 1048576.0, m.freeChunks(), m.mappedBytes() / 1048576.0)).orElse("");
            if (tuning != null) tuning.close();
            if (adam != null) adam.close();
            if (model != null) model.close();
            System.out.printf("{\"phase\": \"%s\", \"baseline_mb\": %.1f, \"peak_mb\": %.1f, \"reset\": %s, \"heap_peak_mb\": %.0f, "
                    + "\"live_tensors\": %d, \"minor_faults\": %d%s}%n", phase, baseline, peak, reset, heapPeak, live, faults, malloc);
            return 0;
        } finally {
            try (Stream<Path> walk = Files.walk(saveDir)) {
                for (Path f : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    /** A /proc/self/status field in MiB, NaN where there is none. */
    static double status(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key + ":")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
            }
        } catch (IOException | NumberFormatException ignored) {
            // not Linux
        }
        return Double.NaN;
    }

    /** This process's minor page faults so far (/proc/self/stat, field 10), -1 where there is none. */
    static long minorFaults() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(fields[7]);  // fields after the command: state(3) ... minflt(10)
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Restarts VmHWM at the current VmRSS; false where the kernel does not allow it. */
    static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | SecurityException e) {
            return false;
        }
    }
}
