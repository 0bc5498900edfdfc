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
    @Option(names = "--run", paramLabel = "DIR", description = "a run's output folder (adept train --out, or adept run's out/NAME)")
    Path run;

    @Option(names = "--compare", paramLabel = "DIR", description = "instead: several runs' curves on one chart (repeat), written to --out")
    List<Path> compare;

    @Option(names = "--metric", defaultValue = "eval_loss", description = "with --compare: eval_loss or loss (default: ${DEFAULT-VALUE})")
    String metric;

    @Option(names = "--title", defaultValue = "Loss by run", description = "with --compare: the chart's title")
    String title;

    @Option(names = "--out", paramLabel = "FILE", description = "with --compare: the PNG to write")
    Path out;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws java.io.IOException {
        if (compare != null) {
            if (out == null) throw new CommandLine.ParameterException(spec.commandLine(), "--compare needs --out FILE.png");
            if (!metric.equals("eval_loss") && !metric.equals("loss")) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--metric must be eval_loss or loss, got " + metric);
            }
            for (Path r : compare) if (!Files.isRegularFile(r.resolve(Trainer.METRICS_FILE))) throw new TrainException(r + " has no " + Trainer.METRICS_FILE);
            byte[] png = TrainPlots.compare(compare, metric, title);
            adept.io.checkpoint.FileOps.writeAtomically(out, c -> adept.io.checkpoint.FileOps.writeFully(c, java.nio.ByteBuffer.wrap(png)));
            spec.commandLine().getOut().println(out);
            spec.commandLine().getOut().flush();
            return 0;
        }
        if (run == null) throw new CommandLine.ParameterException(spec.commandLine(), "give --run DIR (or --compare DIR ... --out FILE)");
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
