// Command mocks serves the three downstream services of the reference design
// (product, reviews, inventory) on 127.0.0.1, each on its own port, with
// configurable latencies. Every bench contender talks to these same mocks.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"time"
)

type product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Price       int    `json:"price"`
}

type review struct {
	ProductID string `json:"productId"`
	Rating    int    `json:"rating"`
	Comment   string `json:"comment"`
	Author    string `json:"author"`
}

type inventory struct {
	ProductID string `json:"productId"`
	Stock     int    `json:"stock"`
}

// latency is a base delay plus an optional tail: with probability tailRate the
// delay is tail instead of base.
type latency struct {
	base     time.Duration
	tail     time.Duration
	tailRate float64
	mu       sync.Mutex
	rng      *rand.Rand
}

func (l *latency) sleep() {
	delay := l.base
	if l.tailRate > 0 {
		l.mu.Lock()
		hitTail := l.rng.Float64() < l.tailRate
		l.mu.Unlock()
		if hitTail {
			delay = l.tail
		}
	}
	if delay > 0 {
		time.Sleep(delay)
	}
}

func idHandler(prefix string, delay *latency, body func(id string) any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, prefix)
		if r.Method != http.MethodGet || id == "" || strings.Contains(id, "/") {
			http.NotFound(w, r)
			return
		}
		delay.sleep()
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(body(id)); err != nil {
			log.Printf("encode %s: %v", r.URL.Path, err)
		}
	})
}

func serve(addr string, route string, handler http.Handler) {
	mux := http.NewServeMux()
	mux.Handle(route, handler)
	server := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(server.ListenAndServe())
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	productPort := flag.String("product-port", "8081", "product service port")
	reviewsPort := flag.String("reviews-port", "8082", "reviews service port")
	inventoryPort := flag.String("inventory-port", "8083", "inventory service port")
	productMs := flag.Int("product-ms", 50, "product latency in ms")
	reviewsMs := flag.Int("reviews-ms", 80, "reviews latency in ms")
	inventoryMs := flag.Int("inventory-ms", 30, "inventory latency in ms")
	tailRate := flag.Float64("tail-rate", 0, "fraction of reviews requests that take -tail-ms instead")
	tailMs := flag.Int("tail-ms", 400, "reviews tail latency in ms")
	seed := flag.Int64("seed", 1, "seed of the reviews tail")
	flag.Parse()

	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	productDelay := &latency{base: ms(*productMs)}
	reviewsDelay := &latency{
		base: ms(*reviewsMs), tail: ms(*tailMs), tailRate: *tailRate, rng: rand.New(rand.NewSource(*seed)),
	}
	inventoryDelay := &latency{base: ms(*inventoryMs)}

	go serve(*host+":"+*productPort, "/products/", idHandler("/products/", productDelay, func(id string) any {
		return product{ID: id, Name: "Awesome Gadget " + id, Description: "The best gadget you will ever own.", Price: 9999}
	}))
	go serve(*host+":"+*reviewsPort, "/reviews/", idHandler("/reviews/", reviewsDelay, func(id string) any {
		return []review{
			{ProductID: id, Rating: 5, Comment: "Love it!", Author: "Alice"},
			{ProductID: id, Rating: 4, Comment: "Pretty good.", Author: "Bob"},
		}
	}))
	serve(*host+":"+*inventoryPort, "/inventory/", idHandler("/inventory/", inventoryDelay, func(id string) any {
		return inventory{ProductID: id, Stock: 10 + len(id)%5}
	}))
}
