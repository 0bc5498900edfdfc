package adept.cli;

import adept.train.TrainListener;
import adept.report.ProgressBar;
import adept.report.TrainPlots;
import adept.parallel.DistEnvironment;
import adept.parallel.LocalLauncher;
import adept.parallel.DistException;
import adept.parallel.ProcessGroup;
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
 * Stage 2 and the baselines: continual pretraining of a model on a domain corpus. Every training option is made
 * from a {@link TrainSettings} field ({@link SettingOptions}: kebab-case here, snake_case in `adept run` configs).
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Continual pretraining with ADEPT (adaptive unit-wise rates on selectively expanded copies) or a baseline.",
                "--mode adept on an unexpanded model probes and expands it first; on an expanded one it trains its copies.",
                "Rerun the same command to resume from the newest checkpoint in --out (Ctrl-C writes one and stops)."})
public final class TrainCommand implements Callable<Integer> {
    @Option(names = "--restart", description = "discard an earlier run in --out instead of resuming it")
    boolean restart;
    @Option(names = "--nproc", paramLabel = "N", description = {"data parallel: start N local processes (ranks), each training on "
            + "batch-size / N blocks of every batch (default: 1; under torchrun, RANK and WORLD_SIZE say it instead)"})
    Integer nproc;
    @Spec
    CommandSpec spec;

    /** The settings from the options given (every training key is an option: {@link SettingOptions}). */
    TrainSettings settings() {
        return SettingOptions.settings(spec.commandLine().getParseResult()).build();
    }

    /** --device as typed: a bare "cuda" means each rank's own GPU under torchrun, which the parsed Device (cuda:0) no longer says. */
    private String deviceText(TrainSettings s) {
        var parsed = spec.commandLine().getParseResult();
        return parsed.hasMatchedOption("--device") ? parsed.matchedOption("--device").stringValues().get(0) : s.hardware().device().toString();
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
                TrainSettings s = settings();  // a bad option fails once, here, not in every rank
                if (s.inputs().batchSize() % nproc != 0) {
                    throw new ParameterException(spec.commandLine(), "--batch-size " + s.inputs().batchSize() + " is the global batch: it must split "
                            + "evenly over --nproc " + nproc);
                }
                return LocalLauncher.run(nproc, AdeptCommand.class.getName(), LocalLauncher.withoutOption(spec.commandLine().getParseResult().originalArgs(), "--nproc"));
            }
        }
        TrainSettings s = settings();
        if (env.isPresent()) adept.parallel.LauncherWatch.startIfLaunched(System.getenv());
        if (env.isPresent() && env.get().worldSize() > 1) {
            if (s.inputs().batchSize() % env.get().worldSize() != 0) {  // checked before waiting for the other ranks
                throw new ParameterException(spec.commandLine(), "--batch-size " + s.inputs().batchSize() + " is the global batch: it must split "
                        + "evenly over WORLD_SIZE " + env.get().worldSize());
            }
            s = s.toBuilder().device(Device.parse(env.get().deviceFor(deviceText(s)))).build();
            try (ProcessGroup group = ProcessGroup.join(env.get(), s.hardware().device())) {
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
            TrainListener listener = quiet ? new TrainListener() {} : new TrainListener() {
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
            Trainer trainer = new Trainer(s).listen(listener).stopWhen(stop).distributed(group).listen(TrainPlots.listener(listener::info));
            if (restart) trainer.restart();
            Trainer.Result r = trainer.run();
            if (r.status() == Trainer.Status.COMPLETED && !quiet) {
                System.out.printf(Locale.ROOT, "trained %s (%s): %d steps, loss %.4f%s; %,d of %,d parameters trainable (%.2f%%); %.1f s%n",
                        r.out(), s.preparation().mode().label(), r.step(), r.lastLoss(), Double.isNaN(r.evalLoss()) ? "" : String.format(Locale.ROOT, ", held-out %.4f", r.evalLoss()),
                        r.trainableParameters(), r.totalParameters(), 100 * r.trainableFraction(), r.seconds());
                System.out.println("model: " + r.model());
            }
            System.out.flush();
            return r;
        }
    }
}
