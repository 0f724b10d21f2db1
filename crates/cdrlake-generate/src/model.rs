//! The made-up world the generator draws from: places, numbers, devices, wholesale accounts.

/// A city where tenants and callers live.
pub struct City {
    pub name: &'static str,
    pub region: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub tz: &'static str,
    /// Area codes of the city (NANP) or the country calling code with a city prefix.
    pub prefixes: &'static [&'static str],
}

pub const CITIES: &[City] = &[
    City { name: "New York", region: "NY", country: "US", lat: 40.71, lon: -74.01, tz: "America/New_York", prefixes: &["1212", "1646", "1718"] },
    City { name: "Los Angeles", region: "CA", country: "US", lat: 34.05, lon: -118.24, tz: "America/Los_Angeles", prefixes: &["1213", "1310", "1323"] },
    City { name: "Chicago", region: "IL", country: "US", lat: 41.88, lon: -87.63, tz: "America/Chicago", prefixes: &["1312", "1773"] },
    City { name: "Houston", region: "TX", country: "US", lat: 29.76, lon: -95.37, tz: "America/Chicago", prefixes: &["1713", "1832"] },
    City { name: "Dallas", region: "TX", country: "US", lat: 32.78, lon: -96.80, tz: "America/Chicago", prefixes: &["1214", "1469"] },
    City { name: "Phoenix", region: "AZ", country: "US", lat: 33.45, lon: -112.07, tz: "America/Phoenix", prefixes: &["1602", "1480"] },
    City { name: "Denver", region: "CO", country: "US", lat: 39.74, lon: -104.99, tz: "America/Denver", prefixes: &["1303", "1720"] },
    City { name: "Seattle", region: "WA", country: "US", lat: 47.61, lon: -122.33, tz: "America/Los_Angeles", prefixes: &["1206", "1425"] },
    City { name: "Miami", region: "FL", country: "US", lat: 25.76, lon: -80.19, tz: "America/New_York", prefixes: &["1305", "1786"] },
    City { name: "Atlanta", region: "GA", country: "US", lat: 33.75, lon: -84.39, tz: "America/New_York", prefixes: &["1404", "1678"] },
    City { name: "Boston", region: "MA", country: "US", lat: 42.36, lon: -71.06, tz: "America/New_York", prefixes: &["1617", "1857"] },
    City { name: "Philadelphia", region: "PA", country: "US", lat: 39.95, lon: -75.17, tz: "America/New_York", prefixes: &["1215", "1267"] },
    City { name: "Minneapolis", region: "MN", country: "US", lat: 44.98, lon: -93.27, tz: "America/Chicago", prefixes: &["1612"] },
    City { name: "Detroit", region: "MI", country: "US", lat: 42.33, lon: -83.05, tz: "America/Detroit", prefixes: &["1313"] },
    City { name: "Nashville", region: "TN", country: "US", lat: 36.16, lon: -86.78, tz: "America/Chicago", prefixes: &["1615"] },
    City { name: "Portland", region: "OR", country: "US", lat: 45.52, lon: -122.68, tz: "America/Los_Angeles", prefixes: &["1503"] },
    City { name: "Las Vegas", region: "NV", country: "US", lat: 36.17, lon: -115.14, tz: "America/Los_Angeles", prefixes: &["1702"] },
    City { name: "Salt Lake City", region: "UT", country: "US", lat: 40.76, lon: -111.89, tz: "America/Denver", prefixes: &["1801"] },
    City { name: "Kansas City", region: "MO", country: "US", lat: 39.10, lon: -94.58, tz: "America/Chicago", prefixes: &["1816"] },
    City { name: "Columbus", region: "OH", country: "US", lat: 39.96, lon: -83.00, tz: "America/New_York", prefixes: &["1614"] },
    City { name: "Charlotte", region: "NC", country: "US", lat: 35.23, lon: -80.84, tz: "America/New_York", prefixes: &["1704"] },
    City { name: "Honolulu", region: "HI", country: "US", lat: 21.31, lon: -157.86, tz: "Pacific/Honolulu", prefixes: &["1808"] },
    City { name: "Anchorage", region: "AK", country: "US", lat: 61.22, lon: -149.90, tz: "America/Anchorage", prefixes: &["1907"] },
    City { name: "Newark", region: "NJ", country: "US", lat: 40.74, lon: -74.17, tz: "America/New_York", prefixes: &["1973"] },
    City { name: "Baltimore", region: "MD", country: "US", lat: 39.29, lon: -76.61, tz: "America/New_York", prefixes: &["1410"] },
    City { name: "San Juan", region: "PR", country: "US", lat: 18.47, lon: -66.11, tz: "America/Puerto_Rico", prefixes: &["1787"] },
    City { name: "Toronto", region: "ON", country: "CA", lat: 43.65, lon: -79.38, tz: "America/Toronto", prefixes: &["1416", "1647"] },
    City { name: "Vancouver", region: "BC", country: "CA", lat: 49.28, lon: -123.12, tz: "America/Vancouver", prefixes: &["1604"] },
    City { name: "Montreal", region: "QC", country: "CA", lat: 45.50, lon: -73.57, tz: "America/Toronto", prefixes: &["1514"] },
    City { name: "Calgary", region: "AB", country: "CA", lat: 51.05, lon: -114.07, tz: "America/Edmonton", prefixes: &["1403"] },
    City { name: "London", region: "ENG", country: "GB", lat: 51.51, lon: -0.13, tz: "Europe/London", prefixes: &["4420"] },
    City { name: "Berlin", region: "BE", country: "DE", lat: 52.52, lon: 13.40, tz: "Europe/Berlin", prefixes: &["4930"] },
    City { name: "Paris", region: "IDF", country: "FR", lat: 48.86, lon: 2.35, tz: "Europe/Paris", prefixes: &["331"] },
    City { name: "Sydney", region: "NSW", country: "AU", lat: -33.87, lon: 151.21, tz: "Australia/Sydney", prefixes: &["612"] },
    City { name: "Tokyo", region: "13", country: "JP", lat: 35.68, lon: 139.69, tz: "Asia/Tokyo", prefixes: &["813"] },
    City { name: "Mexico City", region: "CMX", country: "MX", lat: 19.43, lon: -99.13, tz: "America/Mexico_City", prefixes: &["5255"] },
    City { name: "Mumbai", region: "MH", country: "IN", lat: 19.08, lon: 72.88, tz: "Asia/Kolkata", prefixes: &["9122"] },
];

/// Where tenants are headquartered (indexes into CITIES): mostly North America.
pub const TENANT_CITIES: &[usize] = &[0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 26, 27, 30, 31, 33];

pub const TOLL_FREE_NPAS: &[&str] = &["800", "833", "844", "855", "866", "877", "888"];

pub const TENANT_NAMES: &[&str] = &[
    "Acme Logistics", "Blue Harbor Health", "Cobalt Legal", "Delta Dental Group", "Evergreen Realty",
    "Fjord Analytics", "Granite Insurance", "Helios Solar", "Ironwood Manufacturing", "Juniper Schools",
    "Keystone Bank", "Lighthouse Travel", "Maple Hospitality", "Northwind Traders", "Orchid Clinics",
    "Pioneer Freight", "Quantum Labs", "Redwood Retail", "Summit Partners", "Tidewater Utilities",
];

pub const TEAM_NAMES: &[&str] = &[
    "Sales", "Support", "Billing", "Dispatch", "Front Desk", "Engineering", "Collections", "Onboarding",
];

pub const FIRST_NAMES: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kira", "Liam",
    "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen", "Yusuf",
];
pub const LAST_NAMES: &[&str] = &[
    "Garcia", "Smith", "Nguyen", "Patel", "Kim", "Müller", "Rossi", "Dubois", "Okafor", "Silva",
    "Cohen", "Tanaka", "O'Brien", "Kowalski", "Haddad", "Larsen",
];

/// A device or client as its User-Agent shows it.
pub struct Device {
    pub user_agent: &'static str,
    pub manufacturer: &'static str,
    pub model: &'static str,
    pub version: &'static str,
    pub platform: &'static str,
    pub codec: &'static str,
    pub video: bool,
    pub weight: f64,
}

pub const DEVICES: &[Device] = &[
    Device { user_agent: "Yealink SIP-T46S 66.86.0.15", manufacturer: "Yealink", model: "SIP-T46S", version: "66.86.0.15", platform: "desk phone", codec: "G.722", video: false, weight: 14.0 },
    Device { user_agent: "Yealink SIP-T54W 96.86.0.70", manufacturer: "Yealink", model: "SIP-T54W", version: "96.86.0.70", platform: "desk phone", codec: "G.722", video: false, weight: 8.0 },
    Device { user_agent: "PolycomVVX-VVX_450-UA/6.4.3.5018", manufacturer: "Poly", model: "VVX 450", version: "6.4.3.5018", platform: "desk phone", codec: "G.722", video: false, weight: 10.0 },
    Device { user_agent: "Poly/Trio8800 UA/7.2.4.0149", manufacturer: "Poly", model: "Trio 8800", version: "7.2.4.0149", platform: "conference phone", codec: "G.722", video: false, weight: 3.0 },
    Device { user_agent: "Cisco-CP8865/14.2.1", manufacturer: "Cisco", model: "CP-8865", version: "14.2.1", platform: "desk phone", codec: "G.711", video: true, weight: 7.0 },
    Device { user_agent: "Cisco-CP7841/14.1.1", manufacturer: "Cisco", model: "CP-7841", version: "14.1.1", platform: "desk phone", codec: "G.711", video: false, weight: 5.0 },
    Device { user_agent: "Grandstream GXP2170 1.0.11.79", manufacturer: "Grandstream", model: "GXP2170", version: "1.0.11.79", platform: "desk phone", codec: "G.711", video: false, weight: 6.0 },
    Device { user_agent: "snom D785/10.1.141.13", manufacturer: "snom", model: "D785", version: "10.1.141.13", platform: "desk phone", codec: "G.722", video: false, weight: 3.0 },
    Device { user_agent: "Fanvil X6U 2.12.1", manufacturer: "Fanvil", model: "X6U", version: "2.12.1", platform: "desk phone", codec: "G.711", video: false, weight: 2.0 },
    Device { user_agent: "Avaya one-X Deskphone 7.1.15", manufacturer: "Avaya", model: "J179", version: "7.1.15", platform: "desk phone", codec: "G.711", video: false, weight: 2.0 },
    Device { user_agent: "Zoiper rv2.10.20.4", manufacturer: "Zoiper", model: "Zoiper", version: "2.10.20.4", platform: "Windows", codec: "Opus", video: true, weight: 5.0 },
    Device { user_agent: "MicroSIP/3.21.3", manufacturer: "MicroSIP", model: "MicroSIP", version: "3.21.3", platform: "Windows", codec: "Opus", video: true, weight: 4.0 },
    Device { user_agent: "Bria iOS release 6.17.1 stamp 115", manufacturer: "CounterPath", model: "Bria iOS", version: "6.17.1", platform: "iOS", codec: "Opus", video: true, weight: 5.0 },
    Device { user_agent: "Linphone-Desktop/5.2.2 (Ubuntu 22.04) LinphoneCore/5.3.5", manufacturer: "Linphone", model: "Linphone Desktop", version: "5.2.2", platform: "Linux", codec: "Opus", video: true, weight: 2.0 },
    Device { user_agent: "Zoom Rooms 5.17.0 (ZR-Controller)", manufacturer: "Zoom", model: "Zoom Rooms", version: "5.17.0", platform: "room system", codec: "Opus", video: true, weight: 3.0 },
    Device { user_agent: "Teams.Trio", manufacturer: "Microsoft", model: "Teams Rooms", version: "", platform: "room system", codec: "SILK", video: true, weight: 3.0 },
    Device { user_agent: "Lync 2013 (15.0.5023.1000) Windows", manufacturer: "Microsoft", model: "Skype for Business", version: "15.0.5023.1000", platform: "Windows", codec: "SILK", video: true, weight: 6.0 },
    Device { user_agent: "Polycom RealPresence Group 500 6.2.2.6", manufacturer: "Poly", model: "RealPresence Group 500", version: "6.2.2.6", platform: "room system", codec: "G.722", video: true, weight: 2.0 },
    Device { user_agent: "Asterisk PBX 20.5.0", manufacturer: "Sangoma", model: "Asterisk", version: "20.5.0", platform: "gateway", codec: "G.729", video: false, weight: 3.0 },
];


/// A wholesale account: customers buy, providers sell.
pub struct Account {
    pub name: &'static str,
    /// Rate per minute in millionths, per destination class (US, Canada, toll-free, international).
    pub rates_micros: [i64; 4],
    pub first_increment_s: i32,
    pub next_increment_s: i32,
}

pub const CUSTOMERS: &[Account] = &[
    Account { name: "cust-northstar", rates_micros: [9_000, 11_000, 14_000, 95_000], first_increment_s: 6, next_increment_s: 6 },
    Account { name: "cust-bluewave", rates_micros: [8_500, 10_500, 13_000, 89_000], first_increment_s: 30, next_increment_s: 6 },
    Account { name: "cust-metrolink", rates_micros: [12_000, 13_000, 15_000, 120_000], first_increment_s: 60, next_increment_s: 60 },
    Account { name: "cust-voxora", rates_micros: [7_900, 9_900, 12_500, 80_000], first_increment_s: 1, next_increment_s: 1 },
    Account { name: "cust-callpath", rates_micros: [10_000, 12_000, 14_500, 99_000], first_increment_s: 6, next_increment_s: 6 },
    Account { name: "cust-telvia", rates_micros: [9_500, 11_500, 13_500, 105_000], first_increment_s: 30, next_increment_s: 6 },
];

pub const PROVIDERS: &[Account] = &[
    Account { name: "carrier-atlas", rates_micros: [5_200, 7_000, 9_000, 61_000], first_increment_s: 6, next_increment_s: 6 },
    Account { name: "carrier-brightline", rates_micros: [4_900, 6_800, 9_500, 58_000], first_increment_s: 60, next_increment_s: 60 },
    Account { name: "carrier-coastal", rates_micros: [5_600, 6_500, 8_800, 66_000], first_increment_s: 1, next_increment_s: 1 },
    Account { name: "carrier-dynamo", rates_micros: [6_100, 7_400, 9_900, 54_000], first_increment_s: 30, next_increment_s: 6 },
];
