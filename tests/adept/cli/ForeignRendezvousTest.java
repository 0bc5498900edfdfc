package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.testing.ChildJvm;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Issue 20: a rank whose rendezvous port is held by a server that is not c10d's store (random bytes, or silence)
 * ends within its timeout with one line naming the address and the setting (exit 2), never a native abort
 * nor a wait past the timeout.
 */
class ForeignRendezvousTest extends adept.testing.TrainFolder {
    static final int TIMEOUT_SECONDS = 4;

    /** A loopback server that runs peer on each accepted connection (one thread each) until closed. */
    static final class ForeignServer implements AutoCloseable {
        final ServerSocket socket;
        final List<Socket> clients = new ArrayList<>();
        final Thread acceptor;

        ForeignServer(Consumer<Socket> peer) throws IOException {
            socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            acceptor = Thread.ofPlatform().daemon().start(() -> {
                while (!socket.isClosed()) {
                    try {
                        Socket s = socket.accept();
                        synchronized (clients) {
                            clients.add(s);
                        }
                        Thread.ofPlatform().daemon().start(() -> peer.accept(s));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        int port() {
            return socket.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            socket.close();
            synchronized (clients) {
                for (Socket s : clients) s.close();
            }
        }
    }

    /** Rank 1 of 2 joining the foreign server's port with `adept train`: its outcome. */
    ChildJvm.Outcome joinAsRankOne(int port) throws Exception {
        return ChildJvm.run(ChildJvm.adept(fullTraining(dir.resolve("run"), 2, 8)), Map.of("RANK", "1", "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1",
                "MASTER_PORT", Integer.toString(port), "ADEPT_DIST_TIMEOUT", Integer.toString(TIMEOUT_SECONDS)), dir.resolve("rank1.log"), 120);
    }

    void assertOneLineWithinTheTimeout(ChildJvm.Outcome o, int port, String setting) {
        System.out.printf("foreign rendezvous server: exit %d after %.1f s: %s%n", o.exitCode(), o.seconds(), o.output().strip());
        assertEquals(2, o.exitCode(), o.output());
        assertFalse(o.output().contains("terminate called") || o.output().contains("Exception") || o.output().contains("\tat "), o.output());
        assertTrue(o.output().contains("127.0.0.1:" + port) && o.output().contains(setting), o.output());
        assertEquals(1, o.output().strip().lines().filter(l -> l.startsWith("adept:")).count(), o.output());
        // JVM start, model load and the timeout; far below a wait without end.
        assertTrue(o.seconds() < TIMEOUT_SECONDS + 25, "ended within the timeout: " + o.seconds());
    }

    @Test
    void aServerSendingRandomBytesIsAOneLineError() throws Exception {
        Random random = new Random(20);
        try (ForeignServer server = new ForeignServer(s -> {
            byte[] noise = new byte[4096];
            try (OutputStream out = s.getOutputStream()) {
                for (int i = 0; i < 64 && !s.isClosed(); i++) {
                    synchronized (random) {
                        random.nextBytes(noise);
                    }
                    out.write(noise);
                    out.flush();
                }
                Thread.sleep(60_000);
            } catch (IOException | InterruptedException e) {
                // the client went away
            }
        })) {
            assertOneLineWithinTheTimeout(joinAsRankOne(server.port()), server.port(), "MASTER_PORT");
        }
    }

    @Test
    void aServerThatAcceptsAndNeverAnswersFailsWithinTheTimeout() throws Exception {
        try (ForeignServer server = new ForeignServer(s -> {
            try {
                s.getInputStream().transferTo(OutputStream.nullOutputStream());  // reads everything, answers nothing
            } catch (IOException e) {
                // closed
            }
        })) {
            assertOneLineWithinTheTimeout(joinAsRankOne(server.port()), server.port(), "ADEPT_DIST_TIMEOUT");
        }
    }
}
