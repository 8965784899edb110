package gateway

import "github.com/prometheus/client_golang/prometheus"

// metrics are the gateway's Prometheus collectors, registered on the
// registry given in Config (never the global one).
type metrics struct {
	events         *prometheus.CounterVec // by city and outcome
	batches        *prometheus.CounterVec // by city
	publishErrors  *prometheus.CounterVec // by city
	noLeader       *prometheus.CounterVec // by city
	batchSize      prometheus.Histogram
	publishSeconds prometheus.Histogram
	held           prometheus.Counter
	failing        *prometheus.GaugeVec // by city
	bulkWaits      prometheus.Counter
	refusedAuth    *prometheus.CounterVec // by reason
	outboxBatches  prometheus.Gauge
	outboxBytes    prometheus.Gauge
	outboxFailing  prometheus.Gauge
	republished    *prometheus.CounterVec // by result
	sealed         *prometheus.CounterVec // by city and result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_gateway_events_total",
			Help: "Events received, by city and outcome (accepted, duplicate, or the error code)."}, []string{"city", "outcome"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_gateway_batches_total",
			Help: "Signed batches stored on the bus, by city."}, []string{"city"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_gateway_publish_errors_total",
			Help: "Batches the bus did not store, by city."}, []string{"city"}),
		noLeader: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_gateway_bus_no_leader_total",
			Help: "Batches the bus did not store because no JetStream leader answered any attempt (bus.ErrNoLeader), by city; also counted in baybus_gateway_publish_errors_total."}, []string{"city"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "baybus_gateway_batch_transactions",
			Help: "Transactions per published batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 13)}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "baybus_gateway_publish_seconds",
			Help: "Time from publish to the stream's acknowledgement.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		held: prometheus.NewCounter(prometheus.CounterOpts{Name: "baybus_gateway_held_requests_total",
			Help: "Requests held because the orderers were more than MaxBacklog batches behind the bus."}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "baybus_gateway_bus_write_failing",
			Help: "1 while the city's latest batch publish failed (the bus did not store it), else 0."}, []string{"city"}),
		bulkWaits: prometheus.NewCounter(prometheus.CounterOpts{Name: "baybus_gateway_bulk_waits_total",
			Help: "Requests of several events that waited for a turn because MaxBulkRequests were being read."}),
		refusedAuth: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_gateway_auth_refused_total",
			Help: "Requests refused for their credential: unauthenticated (401) or forbidden (403)."}, []string{"reason"}),
		outboxBatches: prometheus.NewGauge(prometheus.GaugeOpts{Name: "baybus_gateway_outbox_batches",
			Help: "Published batches kept in the outbox until the ledger seals them."}),
		outboxBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "baybus_gateway_outbox_bytes",
			Help: "Bytes of the batch frames kept in the outbox."}),
		outboxFailing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "baybus_gateway_outbox_write_failing",
			Help: "1 while the latest write to the outbox failed, else 0."}),
		republished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_gateway_republished_total",
			Help: "Kept batches published again because they were not sealed in time: stored (the bus had lost them), duplicate (it still held them), failed."}, []string{"result"}),
		sealed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_gateway_sealed_total",
			Help: "Transactions this gateway published that the ledger sealed, by city and result: ok (took effect), duplicate, invalid or rejected. " +
				"baybus_gateway_events_total{outcome=\"accepted\"} counts what the bus stored; this counts what the ledger made of it (gateways with an outbox, as every one with a ledger)."},
			[]string{"city", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.batches, m.publishErrors, m.noLeader, m.batchSize, m.publishSeconds, m.held, m.failing, m.bulkWaits, m.refusedAuth,
			m.outboxBatches, m.outboxBytes, m.outboxFailing, m.republished, m.sealed)
	}
	return m
}
