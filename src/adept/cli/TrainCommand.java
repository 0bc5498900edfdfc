package adept.cli;

import adept.report.ProgressBar;
import adept.dist.DistEnvironment;
import adept.dist.LocalLauncher;
import adept.dist.DistException;
import adept.dist.ProcessGroup;
import adept.tensor.Device;
import adept.train.TrainSettings;
import adept.train.Trainer;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Stage 2 and the baselines: continual pretraining of a model on a domain corpus. Every option maps to a
 * {@link TrainSettings} field (kebab-case here, snake_case in `adept run` configs).
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Continual pretraining with ADEPT (adaptive unit-wise rates on selectively expanded copies) or a baseline.",
                "--mode adept on an unexpanded model probes and expands it first; on an expanded one it trains its copies.",
                "Rerun the same command to resume from the newest checkpoint in --out (Ctrl-C writes one and stops)."})
public final class TrainCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "model folder (Hugging Face layout)")
    Path model;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "domain corpus: text or JSON Lines with \"text\", gzip or not")
    Path data;
    @Option(names = "--probe", paramLabel = "FILE", description = "general-competence probe corpus (adept probe's formats)")
    Path probe;
    @Option(names = "--eval", paramLabel = "FILE", description = "held-out text / JSON Lines for the evaluation loss")
    Path eval;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder (resumes when it holds this run's checkpoint)")
    Path out;
    @Option(names = "--mode", defaultValue = "adept", description = "adept, full, llama-pro, adept-no-stage1, adept-no-stage2 (default: ${DEFAULT-VALUE})")
    String mode;
    @Option(names = "--k", paramLabel = "N", description = "layers to copy / tune (default: the largest K within --expand-budget)")
    Integer k;
    @Option(names = "--layers", split = ",", paramLabel = "a,b", description = "explicit layers to copy / tune instead of probing")
    List<Integer> layers;
    @Option(names = "--expand-budget", defaultValue = "0.15", description = "trainable-parameter share that picks K (default: ${DEFAULT-VALUE})")
    double expandBudget;
    @Option(names = "--steps", required = true, description = "optimizer steps")
    long steps;
    @Option(names = "--block-size", paramLabel = "T", description = "tokens per packed block (default: min(512, context))")
    Integer blockSize;
    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "B", description = "blocks per micro-batch (default: ${DEFAULT-VALUE})")
    int batchSize;
    @Option(names = "--grad-accum", defaultValue = "1", description = "micro-batches per optimizer step (default: ${DEFAULT-VALUE})")
    int gradAccum;
    @Option(names = "--seed", defaultValue = "42", description = "data order seed (default: ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--lr", defaultValue = "1e-4", description = "peak base learning rate (default: ${DEFAULT-VALUE})")
    double lr;
    @Option(names = "--warmup-steps", description = "linear warmup steps (default: 5%% of --steps)")
    Long warmupSteps;
    @Option(names = "--schedule", defaultValue = "cosine", description = "cosine, linear or constant after warmup (default: ${DEFAULT-VALUE})")
    String schedule;
    @Option(names = "--weight-decay", defaultValue = "0.1", description = "decoupled weight decay, not on norms and biases (default: ${DEFAULT-VALUE})")
    double weightDecay;
    @Option(names = "--beta1", defaultValue = "0.9") double beta1;
    @Option(names = "--beta2", defaultValue = "0.999") double beta2;
    @Option(names = "--eps", defaultValue = "1e-8") double eps;
    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "clip the global gradient norm; 0 = off (default: ${DEFAULT-VALUE})")
    double maxGradNorm;
    @Option(names = "--granularity", defaultValue = "tensor", description = "units: tensor, head or neuron (default: ${DEFAULT-VALUE})")
    String granularity;
    @Option(names = "--rate-mode", defaultValue = "continuous", description = "continuous, split or mask (default: ${DEFAULT-VALUE})")
    String rateMode;
    @Option(names = "--rate-norm", defaultValue = "global",
            description = "global (the paper's), per-kind (norms and matrices mapped apart) or mean (element-weighted mean multiplier 1) (default: ${DEFAULT-VALUE})")
    String rateNorm;
    @Option(names = "--refresh-every", defaultValue = "500", paramLabel = "R", description = "importance refresh every R steps (default: ${DEFAULT-VALUE})")
    int refreshEvery;
    @Option(names = "--quantile", defaultValue = "0.5", description = "split / mask: importance quantile of general-critical units (default: ${DEFAULT-VALUE})")
    double quantile;
    @Option(names = "--lr-low", description = "split: rate of general-critical units (default: lr / 10)")
    Double lrLow;
    @Option(names = "--lr-high", description = "split: rate of the other units (default: lr)")
    Double lrHigh;
    @Option(names = "--probe-batches", defaultValue = "0", description = "probe batches per refresh and for probing; 0 = all (default: ${DEFAULT-VALUE})")
    int probeBatches;
    @Option(names = "--probe-batch-size", defaultValue = "8", description = "items per probe batch (default: ${DEFAULT-VALUE})")
    int probeBatchSize;
    @Option(names = "--probe-cache-memory", defaultValue = "4GiB", paramLabel = "SIZE",
            description = "layer probing: most memory a batch's cached layer inputs may take, e.g. 4GiB, 512MiB; over it they are recomputed (default: ${DEFAULT-VALUE})")
    String probeCacheMemory;
    @Option(names = "--grad-checkpointing", defaultValue = "0", paramLabel = "N",
            description = "activation checkpointing: backward recomputes the layers from the first trainable one up, N a segment (less memory, about one more forward); 0 = off (default: ${DEFAULT-VALUE})")
    int gradCheckpointing;
    @Option(names = "--eval-every", description = "held-out loss every N steps; 0 = at the end only (default: steps / 20)")
    Long evalEvery;
    @Option(names = "--eval-tokens", defaultValue = "0", description = "held-out tokens to use; 0 = all (default: ${DEFAULT-VALUE})")
    long evalTokens;
    @Option(names = "--save-every", description = "checkpoint every N steps (default: steps / 10)")
    Long saveEvery;
    @Option(names = "--keep-checkpoints", defaultValue = "2", description = "newest checkpoints kept (default: ${DEFAULT-VALUE})")
    int keepCheckpoints;
    @Option(names = "--log-every", defaultValue = "1", description = "read the loss and gradient norm back every N steps; the steps "
            + "between make no host round trip, which a GPU run wants (default: ${DEFAULT-VALUE})")
    int logEvery;
    @Option(names = "--dtype", defaultValue = "float32", description = "float32, bfloat16 (fp32 master weights) or float64 (default: ${DEFAULT-VALUE})")
    String dtype;
    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE})")
    String device;
    @Option(names = "--overlap-grad-reduce", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = {"data parallel: all-reduce gradient buckets while backward runs (default); --no-overlap-grad-reduce: after it"})
    boolean overlapGradReduce;
    @Option(names = "--restart", description = "discard an earlier run in --out instead of resuming it")
    boolean restart;
    @Option(names = "--nproc", paramLabel = "N", description = {"data parallel: start N local processes (ranks), each training on "
            + "batch-size / N blocks of every batch (default: 1; under torchrun, RANK and WORLD_SIZE say it instead)"})
    Integer nproc;
    @Spec
    CommandSpec spec;

    TrainSettings settings() {
        TrainSettings s = new TrainSettings();
        s.model = model.toString();
        s.data = data.toString();
        s.probe = probe == null ? null : probe.toString();
        s.eval = eval == null ? null : eval.toString();
        s.out = out.toString();
        s.mode = mode;
        s.k = k;
        s.layers = layers;
        s.expandBudget = expandBudget;
        s.steps = steps;
        s.blockSize = blockSize;
        s.batchSize = batchSize;
        s.gradAccum = gradAccum;
        s.seed = seed;
        s.lr = lr;
        s.warmupSteps = warmupSteps;
        s.schedule = schedule;
        s.weightDecay = weightDecay;
        s.beta1 = beta1;
        s.beta2 = beta2;
        s.eps = eps;
        s.maxGradNorm = maxGradNorm;
        s.granularity = granularity;
        s.rateMode = rateMode;
        s.rateNorm = rateNorm;
        s.refreshEvery = refreshEvery;
        s.quantile = quantile;
        s.lrLow = lrLow;
        s.lrHigh = lrHigh;
        s.probeBatches = probeBatches;
        s.probeBatchSize = probeBatchSize;
        s.probeCacheMemory = probeCacheMemory;
        s.gradCheckpointing = gradCheckpointing;
        s.evalEvery = evalEvery;
        s.evalTokens = evalTokens;
        s.saveEvery = saveEvery;
        s.keepCheckpoints = keepCheckpoints;
        s.logEvery = logEvery;
        s.dtype = dtype;
        s.device = device;
        s.overlapGradReduce = overlapGradReduce;
        return s;
    }

    @Override
    public Integer call() {
        Optional<DistEnvironment> env = DistEnvironment.current();
        if (nproc != null) {
            if (nproc < 1) throw new ParameterException(spec.commandLine(), "--nproc must be at least 1, got " + nproc);
            if (env.isPresent()) {
                throw new DistException("--nproc starts its own ranks, but RANK / WORLD_SIZE are set (torchrun's): use one or the other");
            }
            if (nproc > 1) {
                TrainSettings s = settings();
                s.validate();  // a bad option fails once, here, not in every rank
                if (s.batchSize % nproc != 0) {
                    throw new ParameterException(spec.commandLine(), "--batch-size " + s.batchSize + " is the global batch: it must split "
                            + "evenly over --nproc " + nproc);
                }
                return LocalLauncher.run(nproc, AdeptCommand.class.getName(), LocalLauncher.withoutOption(spec.commandLine().getParseResult().originalArgs(), "--nproc"));
            }
        }
        TrainSettings s = settings();
        if (env.isPresent()) adept.dist.LauncherWatch.startIfLaunched(System.getenv());
        if (env.isPresent() && env.get().worldSize() > 1) {
            s.validate();  // before waiting for the other ranks
            if (s.batchSize % env.get().worldSize() != 0) {
                throw new ParameterException(spec.commandLine(), "--batch-size " + s.batchSize + " is the global batch: it must split "
                        + "evenly over WORLD_SIZE " + env.get().worldSize());
            }
            s.device = env.get().deviceFor(s.device);
            try (ProcessGroup group = ProcessGroup.join(env.get(), Device.parse(s.device))) {
                return exitCode(runTraining(s, restart, "train", group));
            }
        }
        return exitCode(runTraining(s, restart, "train"));
    }

    private static int exitCode(Trainer.Result r) {
        return r.status() == Trainer.Status.COMPLETED ? 0 : 130;
    }

    /** Runs a trainer with a progress bar, SIGINT / SIGTERM handling and a closing summary. */
    static Trainer.Result runTraining(TrainSettings s, boolean restart, String label) {
        return runTraining(s, restart, label, null);
    }

    /** As above, as one rank of group (null: one process); ranks other than 0 print only their errors. */
    static Trainer.Result runTraining(TrainSettings s, boolean restart, String label, ProcessGroup group) {
        boolean quiet = group != null && group.rank() != 0;
        AtomicBoolean stop = new AtomicBoolean();
        try (StopSignals signals = StopSignals.install(stop)) {
            ProgressBar[] bar = new ProgressBar[1];
            Trainer.Listener listener = quiet ? new Trainer.Listener() {} : new Trainer.Listener() {
                @Override
                public void info(String line) {
                    System.err.println("adept " + label + ": " + line);
                }

                @Override
                public void step(long step, long steps, double loss, double lr, double tokensPerSecond) {
                    if (bar[0] == null) bar[0] = new ProgressBar(label, steps, step - 1);
                    bar[0].step(String.format(Locale.ROOT, "loss %.4f lr %.2e %,.0f tok/s", loss, lr, tokensPerSecond));
                }

                @Override
                public void finished() {
                    if (bar[0] != null) bar[0].done();
                }
            };
            Trainer.Result r = new Trainer(s, listener, stop, restart, ProbeCommand.version()).distributed(group).run();
            if (r.status() == Trainer.Status.COMPLETED && !quiet) {
                System.out.printf(Locale.ROOT, "trained %s (%s): %d steps, loss %.4f%s; %,d of %,d parameters trainable (%.2f%%); %.1f s%n",
                        r.out(), s.mode, r.step(), r.lastLoss(), Double.isNaN(r.evalLoss()) ? "" : String.format(Locale.ROOT, ", held-out %.4f", r.evalLoss()),
                        r.trainableParameters(), r.totalParameters(), 100 * r.trainableFraction(), r.seconds());
                System.out.println("model: " + r.model());
            }
            System.out.flush();
            return r;
        }
    }
}
