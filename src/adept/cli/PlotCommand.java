package adept.cli;

import adept.train.TrainException;
import adept.train.TrainPlots;
import adept.train.Trainer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Redraws a training run's plots (loss.png, importance.png, rates.png) from its logs. */
@Command(name = "plot", mixinStandardHelpOptions = true,
        description = "Redraw a training run's plots (loss.png, importance.png, rates.png) from its metrics.jsonl and importance.jsonl.")
public final class PlotCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, paramLabel = "DIR", description = "a run's output folder (adept train --out, or adept run's out/NAME)")
    Path run;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        if (!Files.isDirectory(run)) throw new TrainException(run + ": no such folder");
        if (!Files.isRegularFile(run.resolve(Trainer.METRICS_FILE))) {
            throw new TrainException(run + " has no " + Trainer.METRICS_FILE + ": not a training run's folder (adept train --out)");
        }
        List<Path> written = TrainPlots.write(run, null);
        PrintWriter out = spec.commandLine().getOut();
        if (written.isEmpty()) out.println("nothing to plot: " + run.resolve(Trainer.METRICS_FILE) + " has no steps yet");
        for (Path p : written) out.println(p);
        out.flush();
        return 0;
    }
}
