package adept.bench;

import picocli.CommandLine.Command;

/** Benchmarks that compare adept with the PyTorch reference in the same run. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks against PyTorch measured in the same run.",
        subcommands = {BenchOpsCommand.class, BenchTrainCommand.class, BenchProbeCommand.class, BenchAdeptCommand.class, BenchLoraCommand.class,
                BenchDistCommand.class, BenchMfuCommand.class, BenchMemoryCommand.class})
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        new picocli.CommandLine(this).usage(System.out);
    }
}
