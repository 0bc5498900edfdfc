package adept.cli;

import adept.tensor.TorchException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The adept command line. */
@Command(
        name = "adept",
        mixinStandardHelpOptions = true,
        versionProvider = VersionInfo.class,
        description = "Adapt pretrained LLMs to new domains with ADEPT (selective layer expansion + unit-wise decoupled tuning), on libtorch.",
        subcommands = {ProbeCommand.class, ExpandCommand.class, GenerateCommand.class, EvalCommand.class,
                CheckCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class AdeptCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        CommandLine cli = new CommandLine(new AdeptCommand());
        // libtorch errors (bad shapes, devices) and bad inputs (corpora, checkpoints, tokenizers, expansions) are user
        // errors: print the message, not a stack trace.
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof TorchException || e instanceof adept.io.data.DataException || e instanceof adept.expand.ExpansionException
                    || e instanceof adept.io.checkpoint.CheckpointException || e instanceof adept.nn.ModelException
                    || e instanceof adept.io.tokenizer.TokenizerException) {
                commandLine.getErr().println("adept: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        System.exit(cli.execute(args));
    }
}
