//go:build !linux

package testutil

// startPostgres starts no server outside Linux, where it could not make
// sure the server dies with the test binary.
func startPostgres() (dsn, skip string, err error) {
	return "", "a private PostgreSQL server for tests is only started on Linux: set " + EnvPostgresURL +
		"=postgres://user:password@host:port/db?sslmode=disable to use one of your own", nil
}
