package adept.cli;

import adept.AdeptException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The adept command line. */
@Command(
        name = "adept",
        mixinStandardHelpOptions = true,
        versionProvider = VersionInfo.class,
        description = "Adapt pretrained LLMs to new domains with ADEPT (selective layer expansion + unit-wise decoupled tuning), on libtorch.",
        subcommands = {DemoCommand.class, TokenizerCommand.class, InitCommand.class, ProbeCommand.class, ExpandCommand.class, TrainCommand.class, RunCommand.class, SweepCommand.class,
                PlotCommand.class, GenerateCommand.class, EvalCommand.class, CheckCommand.class, adept.bench.BenchCommand.class, CommandLine.HelpCommand.class})
public final class AdeptCommand implements Runnable {
    /** Exit code of a command that failed on a user error (the same as picocli's for bad options). */
    public static final int EXIT_USER_ERROR = 2;

    /**
     * Errors the user can fix: libtorch errors (bad shapes, devices), bad inputs (corpora, checkpoints, tokenizers,
     * expansions) and files that cannot be read or written. They print as one line, not a stack trace.
     */
    static final List<Class<? extends RuntimeException>> USER_ERRORS = List.of(AdeptException.class, UncheckedIOException.class);

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /**
     * The adept command line as {@link #main} runs it: a wrong option or value prints one line naming it (no usage
     * text) and exits with {@value #EXIT_USER_ERROR}; a user error (see {@link #USER_ERRORS}) thrown by a command
     * prints as the one line {@code adept: message} (the message's first line) on the error stream and exits with {@value #EXIT_USER_ERROR};
     * any other exception is a bug and keeps its stack trace.
     */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new AdeptCommand());
        SettingOptions.addTo(cli.getSubcommands().get("train").getCommandSpec());
        // A wrong option or value: one line naming it and where the options are listed, not the whole usage text.
        cli.setParameterExceptionHandler((e, args) -> {
            CommandLine c = e.getCommandLine();
            PrintWriter err = c.getErr();
            err.println("adept: " + firstLine(e.getMessage()) + " (" + c.getCommandSpec().qualifiedName() + " --help lists the options)");
            CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
            err.flush();
            return EXIT_USER_ERROR;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (USER_ERRORS.stream().noneMatch(type -> type.isInstance(e))) throw e;
            PrintWriter err = commandLine.getErr();
            err.println("adept: " + firstLine(e.getMessage()));
            err.flush();
            return EXIT_USER_ERROR;
        });
        return cli;
    }

    /** The first line of a message: parsers and libtorch append troubleshooting links and native backtraces to theirs. */
    static String firstLine(String message) {
        if (message == null) return "(no message)";
        String m = message.strip();
        int end = m.indexOf('\n');
        return (end < 0 ? m : m.substring(0, end)).strip();
    }

    /** An I/O failure as a user error naming the file: "cannot {action} {file}: {reason}". */
    static UncheckedIOException ioError(String action, Path file, IOException e) {
        return new UncheckedIOException("cannot " + action + " " + file + ": " + reason(e), e);
    }

    /** Deletes path if it exists, ignoring a failure: for clean-up on a path where another error is being reported. */
    static void deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // best effort: the error being reported matters more
        }
    }

    private static String reason(IOException e) {
        if (e instanceof FileSystemException f) {
            String why = f.getReason() != null ? f.getReason()
                    : f instanceof AccessDeniedException ? "permission denied"
                    : f instanceof NoSuchFileException ? "no such file or folder"
                    : f.getClass().getSimpleName();
            String other = f.getOtherFile() != null ? " -> " + f.getOtherFile() : "";
            return f.getFile() != null ? f.getFile() + other + ": " + why : why;
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
