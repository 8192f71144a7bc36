package api

import "time"

// SchemaWorkerList is the version of WorkerList.
const SchemaWorkerList = "perdure.workerList/v1"

// WorkerList is the response of GET /api/v1/workers (schema
// perdure.workerList/v1): the remote workers this server has seen
// recently, sorted by id.
type WorkerList struct {
	Schema  string   `json:"schema"`
	Workers []Worker `json:"workers"`
	// SeenWithin is how recently a worker must have polled to be listed
	// (a Go duration, "1m0s").
	SeenWithin string `json:"seenWithin"`
}

// Worker is one remote worker: one worker.Worker running in a process
// connected through the worker API.
type Worker struct {
	// ID names the worker in leases (the lease owner of the work it runs).
	ID string `json:"id"`
	// Process names the worker's process (remotestore.Options.Identity,
	// by default host name and process id); "" when it did not say.
	Process string `json:"process"`
	// Address is the network address its requests came from.
	Address string `json:"address"`
	// TaskQueues are the task queues it serves ("" is the default queue);
	// empty when it claims on any queue.
	TaskQueues []string `json:"taskQueues"`
	// Workflows and Activities are the names it serves, as its claims
	// announce them; empty when it does not claim that kind of work.
	Workflows  []string `json:"workflows"`
	Activities []string `json:"activities"`
	// Polling is true while it waits in a claim (it is connected now).
	Polling bool `json:"polling"`
	// LastSeen is when its last claim started or ended.
	LastSeen time.Time `json:"lastSeen"`
}
