package schemas

import (
	"errors"
	"fmt"
	"strings"
)

// Jurisdiction is one of the three legal systems of the Greater Bay Area.
type Jurisdiction string

// The three jurisdictions.
const (
	CN Jurisdiction = "CN" // mainland China: Simplified Chinese, CNY
	HK Jurisdiction = "HK" // Hong Kong: Traditional Chinese and English, HKD
	MO Jurisdiction = "MO" // Macao: Traditional Chinese and Portuguese, MOP
)

// Jurisdictions lists the jurisdictions in a fixed order.
var Jurisdictions = []Jurisdiction{CN, HK, MO}

// ParseJurisdiction accepts "CN", "cn", "HK", "hk", "MO", "mo".
func ParseJurisdiction(s string) (Jurisdiction, error) {
	switch j := Jurisdiction(strings.ToUpper(s)); j {
	case CN, HK, MO:
		return j, nil
	}
	return "", fmt.Errorf("%w: %q (valid: CN, HK, MO)", ErrUnknownJurisdiction, s)
}

// City is one member of the consortium.
type City struct {
	Token        string       `json:"token"`        // subject token, e.g. "shenzhen"
	NameZH       string       `json:"nameZh"`       // Chinese name in the city's own script
	NameEN       string       `json:"nameEn"`       // English name
	Jurisdiction Jurisdiction `json:"jurisdiction"` // CN, HK or MO
	Division     string       `json:"division"`     // GB/T 2260 administrative division code
}

// ErrUnknownCity is returned for a city token that is not in the registry.
var ErrUnknownCity = errors.New("schemas: unknown city")

// ErrUnknownJurisdiction is returned for a jurisdiction other than CN, HK, MO.
var ErrUnknownJurisdiction = errors.New("schemas: unknown jurisdiction")

// cities is the registry of DESIGN.md, in its order. It is never modified.
var cities = [...]City{
	{"guangzhou", "广州", "Guangzhou", CN, "440100"},
	{"shenzhen", "深圳", "Shenzhen", CN, "440300"},
	{"zhuhai", "珠海", "Zhuhai", CN, "440400"},
	{"foshan", "佛山", "Foshan", CN, "440600"},
	{"jiangmen", "江门", "Jiangmen", CN, "440700"},
	{"zhaoqing", "肇庆", "Zhaoqing", CN, "441200"},
	{"huizhou", "惠州", "Huizhou", CN, "441300"},
	{"dongguan", "东莞", "Dongguan", CN, "441900"},
	{"zhongshan", "中山", "Zhongshan", CN, "442000"},
	{"hongkong", "香港", "Hong Kong", HK, "810000"},
	{"macao", "澳門", "Macao", MO, "820000"},
}

// Cities returns the eleven cities in registry order. The slice is a copy.
func Cities() []City {
	out := make([]City, len(cities))
	copy(out, cities[:])
	return out
}

// CityTokens returns the eleven city tokens in registry order.
func CityTokens() []string {
	out := make([]string, len(cities))
	for i, c := range cities {
		out[i] = c.Token
	}
	return out
}

// LookupCity returns the city with the given token. An unknown token is an
// error wrapping ErrUnknownCity that names the valid tokens.
func LookupCity(token string) (City, error) {
	for _, c := range cities {
		if c.Token == token {
			return c, nil
		}
	}
	return City{}, fmt.Errorf("%w %q (valid: %s)", ErrUnknownCity, token, strings.Join(CityTokens(), ", "))
}

// CitiesIn returns the cities of one jurisdiction in registry order.
func CitiesIn(j Jurisdiction) []City {
	var out []City
	for _, c := range cities {
		if c.Jurisdiction == j {
			out = append(out, c)
		}
	}
	return out
}

// ordererNames is the registry of orderer names, in the order members join:
// the five demonstration nodes of seed 002 first (Hong Kong, Macao, Qianhai
// in Shenzhen, Hengqin in Zhuhai, Nansha in Guangzhou), then the other
// cities. It is never modified.
var ordererNames = [...]string{"hongkong", "macao", "qianhai", "hengqin", "nansha",
	"foshan", "dongguan", "huizhou", "zhongshan", "jiangmen", "zhaoqing"}

// Orderer-set bounds: n = 3f+1 members with f >= 1, at most one per city.
const (
	MinOrderers = 4
	MaxOrderers = len(ordererNames)
)

// ErrOrdererCount is returned for an orderer set outside MinOrderers..MaxOrderers.
var ErrOrdererCount = errors.New("schemas: orderer count out of range")

// OrdererNames returns the names of the first n orderers of the registry
// (a copy).
func OrdererNames(n int) ([]string, error) {
	if n < MinOrderers || n > MaxOrderers {
		return nil, fmt.Errorf("%w: %d orderers, want %d to %d", ErrOrdererCount, n, MinOrderers, MaxOrderers)
	}
	out := make([]string, n)
	copy(out, ordererNames[:n])
	return out, nil
}
