/** The metrics of shared fragments, registered in the server's registry. */
import type { MetricsRegistry } from '../metrics/registry.js';

export function createFragmentMetrics(registry: MetricsRegistry) {
  return {
    renders: registry.counter('wiremesh_fragment_renders_total', 'Fragment renders asked of the app, by outcome'),
    renderDuration: registry.histogram(
      'wiremesh_fragment_render_duration_seconds',
      'Fragment renders: request to HTML',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
    deliveries: registry.counter('wiremesh_fragment_deliveries_total', 'Fragment HTML frames sent to viewers'),
    active: registry.gauge('wiremesh_fragments_active', 'Fragments (name and channel) with viewers on this node'),
  };
}

export type FragmentMetrics = ReturnType<typeof createFragmentMetrics>;
