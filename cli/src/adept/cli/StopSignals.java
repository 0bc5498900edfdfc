package adept.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * SIGINT and SIGTERM set a flag the trainer checks after each step (it then writes a checkpoint and
 * returns), instead of killing the JVM mid-write; a second signal exits at once. Handlers are restored on close.
 */
final class StopSignals implements AutoCloseable {
    private final List<Signal> signals = new ArrayList<>();
    private final List<SignalHandler> previous = new ArrayList<>();

    static StopSignals install(AtomicBoolean stop) {
        StopSignals s = new StopSignals();
        for (String name : List.of("INT", "TERM")) {
            try {
                Signal signal = new Signal(name);
                SignalHandler old = Signal.handle(signal, sig -> {
                    if (stop.getAndSet(true)) Runtime.getRuntime().halt(128 + sig.getNumber());
                    System.err.println("\nadept: SIG" + sig.getName() + " received: finishing this step and writing a checkpoint"
                            + " (again to quit at once)");
                });
                s.signals.add(signal);
                s.previous.add(old);
            } catch (IllegalArgumentException unavailable) {
                // the JVM keeps this signal (e.g. -Xrs): it then ends the process as usual
            }
        }
        return s;
    }

    @Override
    public void close() {
        for (int i = 0; i < signals.size(); i++) Signal.handle(signals.get(i), previous.get(i));
    }
}
