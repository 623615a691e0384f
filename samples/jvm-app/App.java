import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A small HTTP service whose start does real work before it answers: it fills a
 * 2-million-entry map and warms the JIT with a hot loop over it.
 *
 * With -Dapp.gate=PATH it first waits until PATH exists (the Liberty stand-in uses
 * this to checkpoint "beforeAppStart": JVM up, application not started yet).
 */
public final class App {
    private static final int ENTRIES = 2_000_000;

    public static void main(String[] args) throws Exception {
        long jvmStarted = System.nanoTime();
        waitForGate(System.getProperty("app.gate"));
        long started = System.nanoTime();
        Map<Integer, Long> table = new HashMap<>(ENTRIES * 2);
        for (int key = 0; key < ENTRIES; key++) {
            table.put(key, (long) key * key % 1_000_003L);
        }
        long checksum = warmUp(table);
        String body = String.format("{\"status\": \"ok\", \"entries\": %d, \"checksum\": %d}%n", table.size(), checksum);
        int port = Integer.parseInt(System.getProperty("app.port", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 64);
        server.createContext("/", exchange -> {
            byte[] answer = body.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, answer.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(answer);
            }
        });
        server.start();
        System.out.printf("jvmapp: ready on port %d in %d ms (application %d ms)%n", port,
                (System.nanoTime() - jvmStarted) / 1_000_000, (System.nanoTime() - started) / 1_000_000);
    }

    private static void waitForGate(String gate) throws InterruptedException {
        if (gate == null) {
            return;
        }
        System.out.println("jvmapp: JVM started, waiting for " + gate);
        while (!Files.exists(Path.of(gate))) {
            Thread.sleep(10);
        }
    }

    /** Hot loop so the JIT compiles it before the first request (and before a checkpoint). */
    private static long warmUp(Map<Integer, Long> table) {
        long sum = 0;
        for (int round = 0; round < 5; round++) {
            for (int key = 0; key < ENTRIES; key += 7) {
                sum = (sum * 31 + table.get(key)) % 1_000_000_007L;
            }
        }
        return sum;
    }
}
