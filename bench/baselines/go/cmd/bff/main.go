// Command bff is the Go reference Backend-for-Frontend: GET /product-details/{id}
// fans out to product, reviews and inventory concurrently (goroutines and
// channels), with a 2 s HTTP client timeout and a 500 ms aggregation deadline.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
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

type productDetails struct {
	Product   product   `json:"product"`
	Reviews   []review  `json:"reviews"`
	Inventory inventory `json:"inventory"`
}

type result[T any] struct {
	value T
	err   error
}

type bff struct {
	client       *http.Client
	productURL   string
	reviewsURL   string
	inventoryURL string
	deadline     time.Duration
}

func fetch[T any](ctx context.Context, client *http.Client, target string, out chan<- result[T]) {
	var value T
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		out <- result[T]{err: err}
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		out <- result[T]{err: err}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		out <- result[T]{err: fmt.Errorf("%s: status %d", target, resp.StatusCode)}
		return
	}
	err = json.NewDecoder(resp.Body).Decode(&value)
	out <- result[T]{value: value, err: err}
}

func (b *bff) productDetails(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/product-details/")
	if r.Method != http.MethodGet || id == "" || strings.Contains(id, "/") {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), b.deadline)
	defer cancel()

	escaped := url.PathEscape(id)
	productCh := make(chan result[product], 1)
	reviewsCh := make(chan result[[]review], 1)
	inventoryCh := make(chan result[inventory], 1)
	go fetch(ctx, b.client, b.productURL+"/products/"+escaped, productCh)
	go fetch(ctx, b.client, b.reviewsURL+"/reviews/"+escaped, reviewsCh)
	go fetch(ctx, b.client, b.inventoryURL+"/inventory/"+escaped, inventoryCh)

	productResult, reviewsResult, inventoryResult := <-productCh, <-reviewsCh, <-inventoryCh
	if productResult.err != nil {
		status := http.StatusInternalServerError
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		http.Error(w, productResult.err.Error(), status)
		return
	}
	details := productDetails{Product: productResult.value, Reviews: []review{}, Inventory: inventory{ProductID: id}}
	if reviewsResult.err == nil {
		details.Reviews = reviewsResult.value
	}
	if inventoryResult.err == nil {
		details.Inventory = inventoryResult.value
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(details); err != nil {
		log.Printf("encode %s: %v", r.URL.Path, err)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	productURL := flag.String("product-url", "http://127.0.0.1:8081", "product service base URL")
	reviewsURL := flag.String("reviews-url", "http://127.0.0.1:8082", "reviews service base URL")
	inventoryURL := flag.String("inventory-url", "http://127.0.0.1:8083", "inventory service base URL")
	deadlineMs := flag.Int("deadline-ms", 500, "aggregation deadline in ms")
	flag.Parse()

	// The default transport keeps only 2 idle connections per host; at 64 clients that
	// churns through ephemeral ports, so keep as many idle connections as clients.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 256
	service := &bff{
		client:       &http.Client{Timeout: 2 * time.Second, Transport: transport},
		productURL:   *productURL,
		reviewsURL:   *reviewsURL,
		inventoryURL: *inventoryURL,
		deadline:     time.Duration(*deadlineMs) * time.Millisecond,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/product-details/", service.productDetails)
	server := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(server.ListenAndServe())
}
