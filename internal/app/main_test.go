package app

import (
	"testing"

	"github.com/slipwayci/slipway/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
