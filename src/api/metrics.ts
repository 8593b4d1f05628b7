import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DataPathObserver } from '../services/image-data.ts';

/** Prometheus metrics of one server instance (its own registry, so tests can run several). */
export class Metrics implements DataPathObserver {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: 'ims_http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly imageBytesIn = new Counter({
    name: 'ims_image_bytes_in_total',
    help: 'Image data bytes received from clients',
    registers: [this.registry],
  });
  private readonly imageBytesOut = new Counter({
    name: 'ims_image_bytes_out_total',
    help: 'Image data bytes sent to clients',
    registers: [this.registry],
  });

  /** The histogram's series by label values: prom-client hashes the labels on every labels() call. */
  readonly #durationSeries = new Map<string, { observe(seconds: number): void }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ims_' });
  }

  /** Records one request's latency (route is the pattern, so the series are bounded). */
  requestServed(method: string, route: string, statusCode: number, seconds: number): void {
    const key = `${method} ${statusCode} ${route}`;
    let series = this.#durationSeries.get(key);
    if (!series) {
      series = this.requestDuration.labels(method, route, String(statusCode));
      this.#durationSeries.set(key, series);
    }
    series.observe(seconds);
  }

  bytesIn(n: number): void {
    this.imageBytesIn.inc(n);
  }

  bytesOut(n: number): void {
    this.imageBytesOut.inc(n);
  }
}
